"""The deep pass on a real clip, end to end, and its PDF report rendered with pdftoppm and checked as images
(and as text with pdftotext): verdict banner, timeline plot, heat-map thumbnails, audio saliency, summary,
models with measured quality, timing. The optional LLM summary comes from a loopback OpenAI-compatible server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from llm_helpers import llm_server

from framesentry.config import Settings
from framesentry.digest import sha256_file
from framesentry.explain.schema import Explanation
from framesentry.inference.detectors import Detectors
from framesentry.inference.result import AnalysisResult

UNCERTAIN_RGB = (211, 132, 0)


@pytest.fixture(scope="module")
def explained(clip_faces_speech: Path, settings: Settings,
              tmp_path_factory: pytest.TempPathFactory) -> tuple[AnalysisResult, Explanation, Path]:
    from framesentry.explain.deep_pass import run_deep_pass
    from framesentry.inference.pipeline import analyze_file

    out = tmp_path_factory.mktemp("deep")
    # Thresholds so wide the clip is Uncertain: the router escalates and the deep pass also re-scores.
    with llm_server(lambda body: "LLM SUMMARY: " + str(body["messages"][1]["content"])[:60]) as llm:
        cfg = settings.model_copy(update={"real_threshold": 0.0, "fake_threshold": 1.0,
                                          "llm_base_url": llm.base_url})
        detectors = Detectors(cfg)
        result = analyze_file(clip_faces_speech, cfg, detectors)
        explanation = run_deep_pass(clip_faces_speech, result, out, detectors,
                                    sha256=sha256_file(clip_faces_speech))
        assert len(llm.requests) == 1 and llm.requests[0]["messages"][1]["content"] == explanation.summary
    return result, explanation, out


def test_deep_pass_writes_every_artifact(explained: tuple[AnalysisResult, Explanation, Path]) -> None:
    result, explanation, out = explained
    names = {a.name for a in explanation.artifacts}
    assert {"timeline.png", "audio_saliency.png", "audio_saliency.json", "report.pdf"} <= names
    assert all((out / n).is_file() and (out / n).stat().st_size > 0 for n in names)
    assert len(explanation.heatmaps) == min(3, result.faces[0].frames)  # explain_top_frames per track
    worst = sorted((f.p_fake for f in result.frames), reverse=True)[: len(explanation.heatmaps)]
    assert sorted((h.p_fake for h in explanation.heatmaps), reverse=True) == worst
    for h in explanation.heatmaps:
        x1, y1, x2, y2 = h.box
        assert x1 - 40 <= h.peak_frame_xy[0] <= x2 + 40 and y1 - 40 <= h.peak_frame_xy[1] <= y2 + 40
    assert explanation.methods["visual"]["method"] == "GradCAM"
    assert "features.18" in explanation.methods["visual"]["target_layer"]
    assert explanation.refined is not None and explanation.refined.tta == ["hflip"]
    assert explanation.refined.visual_sample_fps == 4.0
    assert explanation.llm_summary and explanation.llm_summary.startswith("LLM SUMMARY: Verdict: UNCERTAIN")
    assert "Verdict: UNCERTAIN" in explanation.summary and "Known limits of the visual model" in explanation.summary
    assert {m.modality for m in explanation.models} == {"visual", "audio"}


def _pages(pdf: Path, tmp: Path) -> list[np.ndarray]:
    from PIL import Image

    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(tmp / "page")], check=True, timeout=120)
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(tmp.glob("page-*.png"))]


def _near(img: np.ndarray, rgb: tuple[int, int, int], tol: int = 30) -> float:
    return float(np.mean(np.all(np.abs(img.astype(int) - np.array(rgb)) <= tol, axis=2)))


def test_pdf_renders_and_its_pages_show_the_evidence(explained: tuple[AnalysisResult, Explanation, Path],
                                                     tmp_path: Path, clip_faces_speech: Path) -> None:
    result, _, out = explained
    pdf = out / "report.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    pages = _pages(pdf, tmp_path)
    assert len(pages) == 3
    first, second, third = pages
    assert first.shape[0] > first.shape[1]  # A4 portrait
    # Page 1: the verdict banner in the Uncertain colour across the top.
    assert _near(first[: first.shape[0] // 5], UNCERTAIN_RGB, 12) > 0.02
    # Page 2: timeline plot and heat-map thumbnails: jet red and blue where the maps are.
    lower = second[second.shape[0] // 3 :]
    assert _near(lower, (128, 0, 0), 60) + _near(lower, (255, 0, 0), 70) > 0.002  # hot regions
    assert _near(lower, (0, 0, 160), 70) > 0.002  # cold regions of the maps
    assert np.mean(second.min(axis=2) < 200) > 0.1  # substantial drawing, not an empty page
    # Page 3: the spectrogram (magma: purple to orange, strongly coloured) above the tables.
    top = third[: third.shape[0] // 2].astype(int)
    assert np.mean(top.max(axis=2) - top.min(axis=2) > 80) > 0.08
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True,
                          timeout=60).stdout
    for needle in ("Verdict: UNCERTAIN", sha256_file(clip_faces_speech), clip_faces_speech.name, "Grad-CAM",
                   "Audio saliency", "Models and their measured quality", result.models["visual"], "test_auc",
                   "clean_pooled_eer", "Processing time", "Deeper pass", "Router decisions", "LLM SUMMARY"):
        assert needle in text, needle
