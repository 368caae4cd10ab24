"""partialml.metrics"""
