"""``partialml kernels``: build and inspect the optional native loss kernels
(:mod:`partialml.losses.native`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

kernels_app = typer.Typer(
    help="Optional native kernels for the LL / Hill / SPLC losses on the CPU.",
    no_args_is_help=True,
)

_DIR_HELP = (
    "Root folder of built kernels (default: $PARTIALML_KERNEL_DIR, else $XDG_CACHE_HOME/partialml/kernels, "
    "else ~/.cache/partialml/kernels)."
)


@kernels_app.command("build")
def build_command(
    directory: Annotated[Optional[Path], typer.Option("--dir", help=_DIR_HELP)] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show the compiler's output.")] = False,
) -> None:
    """Compile the kernels for this torch and CPU (a C++ compiler and ninja; about a minute, once)."""
    import time

    from partialml.losses import native

    if native.built_module_path(directory).is_file():
        typer.echo(f"already built: {native.built_module_path(directory)}")
        return
    start = time.perf_counter()
    typer.echo("building the native loss kernels (about a minute) ...", err=True)
    path = native.build(directory, verbose=verbose)
    typer.echo(f"built {path} in {time.perf_counter() - start:.0f} s")
    if directory is not None and native.kernel_dir(directory) != native.kernel_dir():
        typer.echo(f"to use them, set PARTIALML_KERNEL_DIR={directory}")


@kernels_app.command("info")
def info_command(
    directory: Annotated[Optional[Path], typer.Option("--dir", help=_DIR_HELP)] = None,
) -> None:
    """Where the kernels of this build lie, whether they are built and whether the losses use them."""
    import os

    from partialml.losses import native

    path = native.built_module_path(directory)
    typer.echo(f"build:   {native.build_tag()} (source, torch, CPU capability, Python)")
    typer.echo(f"module:  {path}")
    typer.echo(f"built:   {'yes' if path.is_file() else 'no (partialml kernels build)'}")
    if os.environ.get(native.ENV_SWITCH, "") == "0":
        state = f"no ({native.ENV_SWITCH}=0)"
    elif directory is not None and path != native.built_module_path():
        state = f"not from this folder unless {native.ENV_DIR}={directory}"
    else:
        state = "yes" if native.kernels() is not None else "no"
    typer.echo(f"in use:  {state}")
    typer.echo(
        f"applies: float32 / float64 CPU logits, mean / sum; LL under {native.LL_MAX_ENTRIES:,} entries, "
        "Hill and SPLC at every size"
    )
