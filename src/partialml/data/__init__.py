"""partialml.data"""
