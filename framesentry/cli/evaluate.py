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


ONLY = ("visual", "audio", "crossdomain-audio", "all")


def read_existing(out: Path) -> dict[str, Any]:
    """The results file as it stands, so a partial run (``--only``) replaces its sections and keeps the rest."""
    if not out.is_file():
        return {}
    try:
        data = json.loads(out.read_text())
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def merge_section(results: dict[str, Any], keys: tuple[str, ...], value: Any) -> None:
    """Set ``results[k0][k1]...`` to ``value``, keeping sibling keys (another evaluation's sections)."""
    node = results
    for k in keys[:-1]:
        if not isinstance(node.get(k), dict):
            node[k] = {}
        node = node[k]
    node[keys[-1]] = value


def crossdomain_audio(settings: Any) -> dict[str, Any]:
    """``crossdomain.audio``: the audio detector on crossdomain-dev's clips, scored as uploads are."""
    from framesentry.lab.audio.crossdomain import evaluate_crossdomain_audio

    return evaluate_crossdomain_audio(settings, log=lambda _m: None)


def evaluate(
    out: Annotated[Path, typer.Option(help="Where to write the JSON results (sections are merged in).")] = Path(
        "docs/quality.json"
    ),
    only: Annotated[str, typer.Option(help="visual, audio, crossdomain-audio or all.")] = "all",
) -> None:
    """Evaluate the committed models on the held-out data: AUC, accuracy, EER, ECE; print a table, write JSON.

    The file is updated in place: the sections this run computes replace their old values, every other
    key (sections computed by other ``--only`` runs) is kept.
    """
    from framesentry.config import get_settings

    if only not in ONLY:
        raise typer.BadParameter(f"--only must be one of {', '.join(ONLY)}")
    settings = get_settings()
    results = read_existing(out)
    results["generated_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    fresh: dict[str, Any] = {}
    if only in {"visual", "all"}:
        from framesentry.lab.visual.evaluate import evaluate_visual

        fresh["visual"] = evaluate_visual(settings)
        merge_section(results, ("visual",), fresh["visual"])
    if only in {"audio", "all"}:
        from framesentry.lab.audio.evaluate import evaluate_audio

        fresh["audio"] = evaluate_audio(settings)
        merge_section(results, ("audio",), fresh["audio"])
    if only in {"crossdomain-audio", "all"}:
        fresh["crossdomain.audio"] = crossdomain_audio(settings)
        merge_section(results, ("crossdomain", "audio"), fresh["crossdomain.audio"])

    flat: dict[str, Any] = {}
    _flatten("", fresh, flat)
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
