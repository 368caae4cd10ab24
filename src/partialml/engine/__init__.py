"""partialml.engine"""
