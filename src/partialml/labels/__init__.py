"""partialml.labels"""
