"""The written summary: plain sentences a non-expert can read, generated deterministically from the result.

Same result in, same text out: no model, no randomness. The optional LLM summary (``explain/llm_summary.py``)
is written *from this text and the result*, and never replaces it.
"""

from __future__ import annotations

from framesentry.explain.cards import ModelQuality
from framesentry.explain.schema import TimelineSpan
from framesentry.inference.result import AnalysisResult, Verdict

_VERDICT = {
    Verdict.FAKE: "likely MANIPULATED",
    Verdict.REAL: "likely AUTHENTIC",
    Verdict.UNCERTAIN: "UNCERTAIN: the evidence is not strong either way",
}
_STATUS = {
    "no_face": "no usable face was found in the sampled frames",
    "no_video": "the file has no video track",
    "no_audio": "the file has no audio track",
    "no_speech": "the audio holds no usable speech",
    "disabled": "the router did not run it",
}


def _secs(a: float, b: float) -> str:
    return f"{a:.1f}-{b:.1f} s"


def _driver(result: AnalysisResult) -> str:
    v, a = result.visual.p_fake, result.audio.p_fake
    if v is None and a is None:
        return "Neither faces nor speech could be judged, so the probability is the uninformative 0.5."
    if a is None or (v is not None and v >= a):
        worst = max(result.faces, key=lambda t: t.p_fake, default=None)
        who = (f" Person {worst.track_id} (seen {_secs(worst.first_seen_s, worst.last_seen_s)}, {worst.frames} "
               f"frames) scored highest, mean {worst.p_fake:.2f}, peak {worst.max_p_fake:.2f}.") if worst else ""
        return f"The faces drove the result (visual p_fake {v:.2f}).{who}"
    return f"The voice drove the result (audio p_fake {a:.2f} over {result.audio.windows_scored} speech windows)."


def _skipped(result: AnalysisResult) -> list[str]:
    lines = []
    for name, score in (("Visual analysis", result.visual), ("Audio analysis", result.audio)):
        if score.status != "ok":
            lines.append(f"{name} was skipped: {_STATUS.get(score.status, score.status)}.")
    for d in result.routing:
        if d.action == "skip" and d.step in ("audio_window", "face"):
            what = "audio windows" if d.step == "audio_window" else "face crops"
            lines.append(f"{d.count} {what} were not judged: {d.reason}.")
    return lines


def write_summary(
    result: AnalysisResult,
    spans: list[TimelineSpan],
    models: list[ModelQuality],
    audio_ranges: list[dict[str, float]] | None = None,
    heatmap_notes: list[str] | None = None,
) -> str:
    """The deterministic summary (a few short paragraphs)."""
    parts = [
        f"Verdict: {_VERDICT[result.verdict]}. The calibrated probability of manipulation is {result.p_fake:.2f} "
        f"(Fake at or above {result.thresholds.get('fake', 0.7):.2f}, Real at or below "
        f"{result.thresholds.get('real', 0.3):.2f}); confidence in this leaning {result.confidence:.0%}.",
        _driver(result),
    ]
    if spans:
        shown = sorted(spans, key=lambda s: s.max_p_fake, reverse=True)[:5]
        items = "; ".join(f"{'person ' + s.source.split(':')[1] if s.source.startswith('face:') else s.source} "
                          f"{_secs(s.start_s, s.end_s)} (peak {s.max_p_fake:.2f})" for s in shown)
        parts.append(f"Most suspicious moments: {items}.")
    else:
        parts.append("No stretch of the timeline reached the Fake threshold.")
    if audio_ranges and (result.audio.p_fake or 0.0) > result.thresholds.get("real", 0.3):
        parts.append("In the audio, hiding " + ", ".join(_secs(r["start_s"], r["end_s"]) for r in audio_ranges)
                     + " lowered the synthetic-speech score the most.")
    if heatmap_notes:
        parts.extend(heatmap_notes)
    parts.extend(_skipped(result))
    escalations = [d for d in result.routing if d.step == "escalate" and d.action == "deep_pass"]
    if escalations:
        parts.append(f"Escalated to a deeper pass: {escalations[0].reason}.")
    for m in models:
        if (m.modality == "visual" and result.visual.status == "ok") or (
                m.modality == "audio" and result.audio.status == "ok"):
            parts.append(f"Known limits of the {m.modality} model ({m.version}): " + " ".join(m.limits[:2]))
    parts.append("A score is evidence, not proof: read it with the timeline and the heat maps.")
    return "\n\n".join(parts)
