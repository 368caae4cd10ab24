"""The ``partialml`` command line: a typer app wiring each command to the library.

Errors: every :class:`~partialml.errors.PartialMLError` and every usage error becomes one line on
stderr, ``partialml: error: ...``, and exit status 2; a diverged training run exits with status 1; a
run stopped by SIGTERM / SIGINT (after writing its checkpoint) exits with 143 / 130.
"""

from __future__ import annotations

import sys
import warnings

import typer

from partialml.cli.analyze import analyze_app
from partialml.cli.bench import bench_command
from partialml.cli.common import error_exit, one_line
from partialml.cli.demo import demo_command
from partialml.cli.evaluate import evaluate_command
from partialml.cli.export import export_command
from partialml.cli.extract_features import extract_features_command
from partialml.cli.kernels import kernels_app
from partialml.cli.losses import losses_command
from partialml.cli.predict import predict_command
from partialml.cli.simulate import simulate_command
from partialml.cli.suggest import suggest_command
from partialml.cli.train import train_command
from partialml.cli.verify_data import make_mosaics_command, verify_data_command
from partialml.errors import PartialMLError, PartialMLWarning

_default_showwarning = warnings.showwarning

app = typer.Typer(
    name="partialml",
    help="Multi-label classification from incomplete labels on long-tailed data.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("train")(train_command)
app.command("evaluate")(evaluate_command)
app.command("predict")(predict_command)
app.command("simulate")(simulate_command)
app.command("losses")(losses_command)
app.command("demo")(demo_command)
app.command("bench")(bench_command)
app.add_typer(analyze_app, name="analyze")
app.command("suggest")(suggest_command)
app.command("export")(export_command)
app.command("verify-data")(verify_data_command)
app.command("make-mosaics")(make_mosaics_command)
app.command("extract-features")(extract_features_command)
app.add_typer(kernels_app, name="kernels")


def _click_exception() -> type[Exception]:
    """Click's ``ClickException`` (the base of every usage error), reached through typer's public
    ``BadParameter`` so that it works whether typer uses ``click`` or its vendored copy."""
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == "ClickException":
            return cls
    return typer.BadParameter  # pragma: no cover - every click version has ClickException


def _one_line_warning(message: Warning | str, category: type[Warning], *args: object, **kw: object) -> None:
    """Print a :class:`PartialMLWarning` as one ``partialml: warning:`` line; others the usual way."""
    if issubclass(category, PartialMLWarning):
        sys.stderr.write(f"partialml: warning: {one_line(str(message))}\n")
        return
    _default_showwarning(message, category, *args, **kw)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> None:
    """Run the CLI on ``argv`` (default ``sys.argv[1:]``) and exit with its status."""
    from partialml.engine.signals import TrainingInterrupted
    from partialml.engine.trainer import TrainingDivergedError

    ClickException = _click_exception()

    args = sys.argv[1:] if argv is None else list(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", PartialMLWarning)
            warnings.showwarning = _one_line_warning
            result = app(args=args, prog_name="partialml", standalone_mode=False)
    except PartialMLError as exc:
        error_exit(str(exc), 2)
    except TrainingDivergedError as exc:
        error_exit(f"training stopped: {exc}", 1)
    except TrainingInterrupted as exc:
        error_exit(f"training interrupted: {exc}", exc.exit_status)
    except ClickException as exc:
        message = exc.format_message().strip()  # type: ignore[attr-defined]
        if not message:  # no arguments at all: typer printed the help, the message is empty
            message = "missing a command; see partialml --help"
        error_exit(message, 2)
    except (typer.Abort, KeyboardInterrupt):
        error_exit("interrupted", 130)
    code = result if isinstance(result, int) else 0
    raise SystemExit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
