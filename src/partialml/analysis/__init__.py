"""partialml.analysis"""
