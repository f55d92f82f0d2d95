"""The timeline: suspicious spans per modality and per face, and the plot of scores over time."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from framesentry.explain.schema import TimelineSpan
from framesentry.inference.result import AnalysisResult


def _spans(
    source: str, points: Iterable[tuple[float, float, float]], threshold: float, gap_s: float
) -> list[TimelineSpan]:
    """Merge (start, end, p) points at or above ``threshold`` into spans, bridging gaps up to ``gap_s``."""
    spans: list[TimelineSpan] = []
    for start, end, p in sorted(points):
        if p < threshold:
            continue
        if spans and start <= spans[-1].end_s + gap_s:
            last = spans[-1]
            spans[-1] = TimelineSpan(source=source, start_s=last.start_s, end_s=max(last.end_s, end),
                                     max_p_fake=max(last.max_p_fake, p))
        else:
            spans.append(TimelineSpan(source=source, start_s=start, end_s=end, max_p_fake=p))
    return [s.model_copy(update={"start_s": round(s.start_s, 3), "end_s": round(s.end_s, 3),
                                 "max_p_fake": round(s.max_p_fake, 4)}) for s in spans]


def suspicious_spans(result: AnalysisResult, threshold: float | None = None) -> list[TimelineSpan]:
    """Spans at or above ``threshold`` (default: the Fake threshold) for visual, audio and each face track."""
    cut = result.thresholds.get("fake", 0.7) if threshold is None else threshold
    step = 1.0
    if len(result.frames) > 1:
        times = sorted({f.t_s for f in result.frames})
        step = min((b - a for a, b in itertools.pairwise(times)), default=1.0) or 1.0
    out: list[TimelineSpan] = []
    out += _spans("visual", [(s.start_s, s.end_s, s.visual_p_fake) for s in result.segments
                             if s.visual_p_fake is not None], cut, 0.0)
    out += _spans("audio", [(w.start_s, w.end_s, w.p_fake) for w in result.audio_windows], cut, 0.0)
    for track in result.faces:
        pts = [(f.t_s, f.t_s + step, f.p_fake) for f in result.frames if f.track_id == track.track_id]
        out += _spans(f"face:{track.track_id}", pts, cut, step)
    return out


def plot_scores(result: AnalysisResult, path: Any) -> None:
    """PNG of p_fake over time: each face track, audio windows, fused segments, and the verdict thresholds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.2), dpi=110)
    for track in result.faces:
        pts = [(f.t_s, f.p_fake) for f in result.frames if f.track_id == track.track_id]
        ax.plot([t for t, _ in pts], [p for _, p in pts], marker=".", lw=1, label=f"face {track.track_id}")
    if result.audio_windows:
        for w in result.audio_windows:
            ax.hlines(w.p_fake, w.start_s, w.end_s, colors="#8e44ad", lw=2, alpha=0.6)
        ax.plot([], [], color="#8e44ad", lw=2, label="audio windows")
    if result.segments:
        ax.step([s.start_s for s in result.segments], [s.p_fake for s in result.segments], where="post",
                color="black", lw=1.2, ls="--", label="fused (segments)")
    ax.axhline(result.thresholds.get("fake", 0.7), color="#c0392b", lw=0.8, ls=":")
    ax.axhline(result.thresholds.get("real", 0.3), color="#27ae60", lw=0.8, ls=":")
    for span in suspicious_spans(result):
        if span.source in ("visual", "audio"):
            ax.axvspan(span.start_s, span.end_s, color="#e74c3c", alpha=0.08)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(0, max(result.media.duration_s, 1e-3))
    ax.set_xlabel("seconds")
    ax.set_ylabel("p_fake")
    ax.set_title(f"Scores over time (verdict: {result.verdict.value}, p_fake {result.p_fake:.2f})")
    ax.legend(loc="upper right", fontsize=7, ncol=4)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
