"""``framesentry eval``: recompute every quality number the docs quote, from the data, in one command."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


def evaluate(
    out: Annotated[Path, typer.Option(help="Where to write the JSON results.")] = Path("docs/quality.json"),
    only: Annotated[str, typer.Option(help="visual, audio or all.")] = "all",
) -> None:
    """Evaluate the committed models on the held-out data: AUC, accuracy, EER, ECE; print a table, write JSON."""
    from framesentry.config import get_settings

    if only not in {"visual", "audio", "all"}:
        raise typer.BadParameter("--only must be visual, audio or all")
    settings = get_settings()
    results: dict[str, Any] = {"generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if only in {"visual", "all"}:
        from framesentry.lab.visual.evaluate import evaluate_visual

        results["visual"] = evaluate_visual(settings)
    if only in {"audio", "all"}:
        from framesentry.lab.audio.evaluate import evaluate_audio

        results["audio"] = evaluate_audio(settings)

    flat: dict[str, Any] = {}
    _flatten("", {k: v for k, v in results.items() if k != "generated_at"}, flat)
    table = Table(title="FrameSentry quality (held-out data)", show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in flat.items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.4f}")
        elif isinstance(value, (int, str)):
            table.add_row(key, str(value))
    Console().print(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    Console(stderr=True).print(f"wrote {out}")
