"""``framesentry eval``: recompute every quality number the docs quote, from the data, in one command."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from framesentry.config import Settings


def _visual(settings: Settings) -> dict[str, Any]:
    from framesentry.lab.visual.evaluate import evaluate_visual

    return evaluate_visual(settings)


def _audio(settings: Settings) -> dict[str, Any]:
    from framesentry.lab.audio.evaluate import evaluate_audio

    return evaluate_audio(settings)


def _crossdomain_video(settings: Settings) -> dict[str, Any]:
    from framesentry.lab.visual.crossdomain import evaluate_crossdomain_video

    return evaluate_crossdomain_video(settings)


def _crossdomain_audio(settings: Settings) -> dict[str, Any]:
    from framesentry.lab.audio.crossdomain import evaluate_crossdomain_audio

    return evaluate_crossdomain_audio(settings, log=lambda _m: None)


# --only name -> the sections it recomputes: (path of keys inside quality.json, function computing it).
SECTIONS: dict[str, list[tuple[tuple[str, ...], Callable[[Settings], dict[str, Any]]]]] = {
    "visual": [(("visual",), _visual)],
    "audio": [(("audio",), _audio)],
    "crossdomain": [(("crossdomain", "video"), _crossdomain_video)],
    "crossdomain-audio": [(("crossdomain", "audio"), _crossdomain_audio)],
}


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


def _place(doc: dict[str, Any], path: tuple[str, ...], value: dict[str, Any]) -> None:
    """Replace the section at ``path`` in ``doc``, keeping every other section (also siblings under a parent)."""
    node = doc
    for key in path[:-1]:
        child = node.get(key)
        node[key] = child if isinstance(child, dict) else {}
        node = node[key]
    node[path[-1]] = value


def _read_existing(out: Path) -> dict[str, Any]:
    """The current quality.json, so recomputing one section never drops the others."""
    if not out.is_file():
        return {}
    try:
        doc = json.loads(out.read_text())
    except ValueError as exc:
        raise typer.BadParameter(f"{out} is not valid JSON ({exc}); fix or remove it") from exc
    return doc if isinstance(doc, dict) else {}


def evaluate(
    out: Annotated[Path, typer.Option(help="JSON results; sections not recomputed are kept.")] = Path(
        "docs/quality.json"
    ),
    only: Annotated[str, typer.Option(help=f"{', '.join(SECTIONS)} or all.")] = "all",
    card: Annotated[
        bool, typer.Option("--card", help="Also store the crossdomain numbers in the committed visual model card.")
    ] = False,
) -> None:
    """Evaluate the committed models on held-out and cross-domain data; print a table, merge into the JSON."""
    from framesentry.config import get_settings

    if only != "all" and only not in SECTIONS:
        raise typer.BadParameter(f"--only must be one of {', '.join(SECTIONS)} or all")
    settings = get_settings()
    doc = _read_existing(out)
    computed: dict[str, Any] = {}
    for name in SECTIONS if only == "all" else [only]:
        for path, fn in SECTIONS[name]:
            value = fn(settings)
            _place(doc, path, value)
            _place(computed, path, value)
    doc["generated_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    video = computed.get("crossdomain", {}).get("video")
    if card and video is not None:
        from framesentry.lab.visual.card import attach_crossdomain

        attach_crossdomain(settings.models_dir / "visual", video)

    flat: dict[str, Any] = {}
    _flatten("", computed, flat)
    table = Table(title="FrameSentry quality", show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in flat.items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.4f}")
        elif isinstance(value, (int, str)):
            table.add_row(key, str(value))
    Console().print(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    Console(stderr=True).print(f"wrote {out}")
