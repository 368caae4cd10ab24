"""partialml.models"""
