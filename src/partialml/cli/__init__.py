"""partialml.cli"""
