"""``partialml losses``: every registered loss with its one-line description and paper."""

from __future__ import annotations

from typing import Annotated, Optional

import typer


def losses_command(
    pattern: Annotated[Optional[str], typer.Argument(help="Shell-style filter, e.g. 'll-*'.")] = None,
) -> None:
    """List the losses: name, description, paper."""
    from partialml.losses import list_losses, loss_entry

    names = list_losses(pattern)
    if pattern is not None and not names:
        from partialml.errors import PartialMLError

        raise PartialMLError(f"losses: no loss matches {pattern!r}; `partialml losses` lists them all")
    width = max((len(n) for n in names), default=0)
    for name in names:
        entry = loss_entry(name)
        typer.echo(f"{name:<{width}}  {entry.description} [{entry.paper}]")
