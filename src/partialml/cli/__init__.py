"""partialml.cli: the ``partialml`` command line (``partialml.cli.app:main``)."""
