"""``python -m partialml``: the command line (see :mod:`partialml.cli.app`)."""

from partialml.cli.app import main

if __name__ == "__main__":
    main()
