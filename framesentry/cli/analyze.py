"""``framesentry analyze`` and ``framesentry demo``: analyse a file and show the verdict."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from framesentry.inference.result import AnalysisResult, ModalityScore, Verdict

VERDICT_STYLE = {Verdict.REAL: "bold green", Verdict.FAKE: "bold red", Verdict.UNCERTAIN: "bold yellow"}


def _modality(m: ModalityScore) -> str:
    if m.p_fake is None:
        return m.status.replace("_", " ")
    return f"p_fake {m.p_fake:.3f} ({m.windows_scored} scored, {m.windows_skipped} skipped)"


def render_summary(result: AnalysisResult, console: Console) -> None:
    """Human-readable summary: verdict, probability, modalities, worst segments, timing."""
    style = VERDICT_STYLE[result.verdict]
    console.print(
        f"[{style}]{result.verdict.value.upper()}[/]  p_fake={result.p_fake:.3f}  "
        f"confidence={result.confidence:.2f}  ({result.media.path})"
    )
    table = Table(show_header=True, header_style="bold")
    table.add_column("modality")
    table.add_column("score")
    table.add_row("visual", _modality(result.visual))
    table.add_row("audio", _modality(result.audio))
    console.print(table)
    for face in result.faces:
        console.print(
            f"  face #{face.track_id}: {face.first_seen_s:.1f}-{face.last_seen_s:.1f} s, {face.frames} frames, "
            f"p_fake mean {face.p_fake:.3f} max {face.max_p_fake:.3f}"
        )
    if result.suspicious_segments:
        console.print("most suspicious segments:")
        for seg in result.suspicious_segments:
            parts = [f"p_fake {seg.p_fake:.3f}"]
            if seg.visual_p_fake is not None:
                parts.append(f"visual {seg.visual_p_fake:.3f}")
            if seg.audio_p_fake is not None:
                parts.append(f"audio {seg.audio_p_fake:.3f}")
            console.print(f"  {seg.start_s:6.1f}-{seg.end_s:6.1f} s  " + ", ".join(parts))
    timing = ", ".join(f"{k} {v:.2f}s" for k, v in result.timing_s.items())
    console.print(f"timing: {timing}")


def run_analysis(path: Path, show_progress: bool) -> AnalysisResult:
    """Analyse with a progress bar on a terminal (stderr), silently otherwise."""
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from framesentry.inference.pipeline import analyze_file

    if not show_progress:
        return analyze_file(path)
    with Progress(
        TextColumn("{task.description:<8}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(), console=Console(stderr=True), transient=True,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, fraction: float) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=1.0)
            bar.update(tasks[stage], completed=fraction)

        return analyze_file(path, progress=progress)


def analyze(
    file: Annotated[Path, typer.Argument(help="Video or audio file to analyse.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the full result as JSON on stdout.")] = False,
) -> None:
    """Analyse a media file: verdict Real / Fake / Uncertain with calibrated probability and evidence."""
    result = run_analysis(file, show_progress=sys.stderr.isatty())
    if json_out:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    else:
        render_summary(result, Console())


def demo(
    json_out: Annotated[bool, typer.Option("--json", help="Print the full result as JSON on stdout.")] = False,
) -> None:
    """Make a short sample clip from the shared data (a real face and real speech) and analyse it."""
    from framesentry.config import get_settings
    from framesentry.lab.samples import make_demo_clip

    settings = get_settings()
    clip = make_demo_clip(settings, settings.work_dir / "demo" / "sample.mp4")
    Console(stderr=True).print(f"sample clip: {clip}")
    analyze(clip, json_out=json_out)
