"""partialml: multi-label classification from incomplete labels on long-tailed data.

Label encoding everywhere: ``1`` observed positive, ``0`` observed negative, ``-1`` unknown.
"""

__version__ = "0.1.0"
