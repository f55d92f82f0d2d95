"""The ``framesentry`` command: one Typer app, sub-commands registered from their own modules."""

from __future__ import annotations

import os
import sys

# Before anything imports torch: OpenMP threads that busy-wait make torch ~8x slower whenever another process
# holds a core (measured while training on 2 shared cores). Passive waiting costs nothing measurable alone.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import typer
from rich.console import Console

from framesentry.errors import FrameSentryError

app = typer.Typer(
    name="framesentry",
    help="FrameSentry: deepfake detection for video files and live streams.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
train_app = typer.Typer(help="Train the project's detectors from ../shared data.", no_args_is_help=True)
app.add_typer(train_app, name="train")

err_console = Console(stderr=True)


def _register() -> None:
    """Attach commands. Each module keeps its heavy imports inside the command body."""
    from framesentry.cli import analyze, evaluate, train_audio, train_visual

    app.command("analyze")(analyze.analyze)
    app.command("demo")(analyze.demo)
    from framesentry.cli import report  # explanations: the PDF report

    app.command("report")(report.report)
    app.command("eval")(evaluate.evaluate)
    train_app.command("visual")(train_visual.visual)
    train_app.command("audio")(train_audio.audio)
    from framesentry.cli import openapi, serve, worker  # service commands (API, worker, spec)

    app.command("serve")(serve.serve)
    app.command("worker")(worker.worker)
    app.command("openapi")(openapi.openapi)
    from framesentry.cli import keys  # API keys in the service database

    app.add_typer(keys.keys_app, name="keys")
    from framesentry.cli import watch  # live: follow a stream's scores

    app.command("watch")(watch.watch)
    from framesentry.cli import bench, engines  # engines: ahead-of-time builds; bench: offline throughput

    app.add_typer(engines.engines_app, name="engines")
    app.command("bench")(bench.bench)


def main() -> None:
    """Entry point: run the app, print typed errors as one clear line (no traceback)."""
    from pydantic import ValidationError

    from framesentry.cli.service_settings import config_error

    _register()
    try:
        try:
            app(standalone_mode=False)
        except ValidationError as exc:  # invalid FRAMESENTRY_* settings, met by any command
            raise config_error(exc) from exc
    except FrameSentryError as exc:
        err_console.print(f"[bold red]error[/] ({exc.code}): {exc.message}")
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("aborted")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # usage errors come through here in non-standalone mode
        import click

        # typer 0.2x raises its own vendored click's exceptions (typer.TyperException), not click's.
        if isinstance(exc, click.ClickException | typer.TyperException) and hasattr(exc, "show"):
            exc.show()
            sys.exit(int(getattr(exc, "exit_code", 2)))
        raise
