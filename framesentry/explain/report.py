"""The PDF report (fpdf2): verdict, file facts, timeline, heat maps, audio saliency, summary, models, timing.

Built only from an ``AnalysisResult``, its ``Explanation`` and the artifact images next to it, so the API, the
CLI and the deep pass produce the same document. Core PDF fonts are Latin-1: text is folded to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from framesentry.explain.schema import Explanation
from framesentry.inference.result import AnalysisResult

_COLOURS = {"fake": (192, 57, 43), "real": (39, 174, 96), "uncertain": (211, 132, 0)}
_FOLD = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                       "\u2192": "->", "\u2264": "<=", "\u2265": ">=", "\u00d7": "x", "\u2026": "..."})


def latin1(text: str) -> str:
    return text.translate(_FOLD).encode("latin-1", "replace").decode("latin-1")


class _Doc:
    def __init__(self) -> None:
        from fpdf import FPDF

        self.pdf = FPDF(format="A4")
        self.pdf.set_auto_page_break(True, margin=14)
        self.pdf.set_margins(14, 14, 14)

    @property
    def width(self) -> float:
        return float(self.pdf.w - self.pdf.l_margin - self.pdf.r_margin)

    def heading(self, text: str) -> None:
        self.pdf.ln(2)
        self.pdf.set_font("Helvetica", "B", 12)
        self.pdf.cell(0, 7, latin1(text), new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_font("Helvetica", "", 9)

    def para(self, text: str, size: float = 9) -> None:
        self.pdf.set_font("Helvetica", "", size)
        self.pdf.multi_cell(self.width, 4.6, latin1(text), new_x="LMARGIN", new_y="NEXT")

    def table(self, rows: list[tuple[str, str]], key_w: float = 48) -> None:
        self.pdf.set_font("Helvetica", "", 8.5)
        for key, value in rows:
            self.pdf.set_font("Helvetica", "B", 8.5)
            self.pdf.cell(key_w, 4.8, latin1(key))
            self.pdf.set_font("Helvetica", "", 8.5)
            self.pdf.multi_cell(self.width - key_w, 4.8, latin1(value), new_x="LMARGIN", new_y="NEXT")

    def image(self, path: Path, w: float) -> None:
        if path.is_file():
            self.pdf.image(str(path), w=w)


def _fmt_bytes(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n} B"


def write_report(result: AnalysisResult, explanation: Explanation, images: Path, out: Path) -> Path:
    """Write the PDF to ``out``; ``images`` is the folder holding the explanation's artifacts."""
    doc = _Doc()
    pdf = doc.pdf
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 9, "FrameSentry analysis report", new_x="LMARGIN", new_y="NEXT")
    colour = _COLOURS.get(result.verdict.value, (80, 80, 80))
    pdf.set_fill_color(*colour)
    pdf.set_text_color(255, 255, 255)
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 11, latin1(f"  Verdict: {result.verdict.value.upper()}   p_fake {result.p_fake:.2f}   "
                           f"confidence {result.confidence:.0%}"), fill=True, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    m = result.media
    doc.heading("File")
    rows = [
        ("Name", Path(m.path).name),
        ("SHA-256", explanation.media_sha256 or "(not computed)"),
        ("Container / size", f"{m.container}, {_fmt_bytes(m.size_bytes)}"),
        ("Duration", f"{m.duration_s:.2f} s"),
        ("Video", f"{m.width}x{m.height} @ {m.fps:.2f} fps" if m.has_video and m.fps else "none"),
        ("Audio", "yes" if m.has_audio else "none"),
        ("Scores", f"visual {_p(result.visual.p_fake)} ({result.visual.status}), "
                   f"audio {_p(result.audio.p_fake)} ({result.audio.status})"),
    ]
    if explanation.refined is not None:
        r = explanation.refined
        rows.append(("Deeper pass", f"p_fake {r.p_fake:.2f} ({r.verdict}) at {r.visual_sample_fps:g} frames/s, "
                                    f"TTA {', '.join(r.tta)}"))
    doc.table(rows)
    doc.heading("Summary")
    doc.para(explanation.summary)
    if explanation.llm_summary:
        doc.heading("Summary written by a language model (from the summary above)")
        doc.para(explanation.llm_summary)

    pdf.add_page()
    doc.heading("Scores over time")
    doc.image(images / "timeline.png", doc.width)
    if explanation.timeline:
        doc.table([(s.source, f"{s.start_s:.1f}-{s.end_s:.1f} s, peak p_fake {s.max_p_fake:.2f}")
                   for s in explanation.timeline[:12]], key_w=30)
    if explanation.heatmaps:
        doc.heading("Face heat maps (Grad-CAM)")
        _thumbnails(doc, explanation, images)
    if explanation.audio_saliency is not None:
        pdf.add_page()
        doc.heading("Audio saliency (occlusion)")
        doc.image(images / "audio_saliency.png", doc.width)
        sal: dict[str, Any] = explanation.audio_saliency
        doc.table([("Time ranges", ", ".join(f"{r['start_s']:.2f}-{r['end_s']:.2f} s ({r['saliency']:+.2f})"
                                             for r in sal.get("top_ranges", [])) or "none"),
                   ("Bands", ", ".join(f"{b['low_hz']}-{b['high_hz']} Hz ({b['saliency']:+.2f})"
                                       for b in sal.get("bands", [])[:4]) or "none")])
    doc.heading("Models and their measured quality")
    for q in explanation.models:
        doc.table([(f"{q.modality}: {q.version}", ", ".join(f"{k} {v:.3f}" for k, v in q.quality.items()))],
                  key_w=62)
    doc.heading("Methods")
    doc.table([(k, "; ".join(f"{a}: {b}" for a, b in v.items())) for k, v in explanation.methods.items()], key_w=20)
    doc.heading("Router decisions")
    doc.table([(f"{d.step} ({d.policy})", f"{d.action} x{d.count}: {d.reason}") for d in result.routing], key_w=40)
    doc.heading("Processing time")
    doc.table([("Verdict pass", ", ".join(f"{k} {v:.2f} s" for k, v in result.timing_s.items())),
               ("Deep pass", ", ".join(f"{k} {v:.2f} s" for k, v in explanation.timing_s.items()))])
    out.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(out))
    return out


def _p(p: float | None) -> str:
    return "-" if p is None else f"{p:.2f}"


def _thumbnails(doc: _Doc, explanation: Explanation, images: Path) -> None:
    """Crop overlays in a row of up to four, each with its frame overlay below it, captioned."""
    pdf = doc.pdf
    shown = explanation.heatmaps[:8]
    per_row, gap = 4, 3.0
    w = (doc.width - gap * (per_row - 1)) / per_row
    for start in range(0, len(shown), per_row):
        row = shown[start : start + per_row]
        if pdf.get_y() + 2 * w + 12 > pdf.h - pdf.b_margin:
            pdf.add_page()
        y = pdf.get_y()
        for i, h in enumerate(row):
            x = pdf.l_margin + i * (w + gap)
            pdf.image(str(images / h.crop_image), x=x, y=y, w=w, h=w)
            pdf.image(str(images / h.frame_image), x=x, y=y + w + 1, w=w)
            pdf.set_xy(x, y + w + 1 + w * 9 / 16 + 1)
            pdf.set_font("Helvetica", "", 7)
            pdf.multi_cell(w, 3.4, latin1(f"person {h.track_id}, {h.t_s:.1f} s, p_fake {h.p_fake:.2f}, "
                                          f"evidence for {h.target}"))
        pdf.set_xy(pdf.l_margin, y + 2 * w + 10)
