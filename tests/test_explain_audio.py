"""Audio occlusion saliency: on a clip of real LibriSpeech speech with a 3 s espeak-ng segment spliced into it,
the most salient time range lies inside the spliced segment; the image and the data are written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from framesentry.config import Settings
from framesentry.inference.detectors import Detectors

RATE = 16000
SPLICE = (5.0, 8.0)


@pytest.fixture(scope="module")
def spliced_clip(media_dir: Path, settings: Settings) -> Path:
    from framesentry.lab.audio.spoofgen import espeak
    from framesentry.lab.samples import speech_from_librispeech, write_clip

    real = speech_from_librispeech(settings, 12.0, subset="test-other")
    synthetic, _ = espeak("The committee reviews the budget again while the quick brown fox jumps over the dog.",
                          np.random.default_rng(0))
    a, b = round(SPLICE[0] * RATE), round(SPLICE[1] * RATE)
    seg = np.pad(synthetic[: b - a], (0, max(0, b - a - len(synthetic))))
    seg = seg * np.sqrt(np.mean(real[a:b] ** 2) / (np.mean(seg**2) + 1e-12))  # same loudness as the speech
    signal = real.copy()
    signal[a:b] = seg
    return write_clip(media_dir / "spliced_espeak.m4a", duration_s=12.0, video=False, audio=signal.astype(np.float32),
                      audio_codec="aac")


def test_saliency_ranks_the_spliced_segment_highest(spliced_clip: Path, settings: Settings, tmp_path: Path) -> None:
    from framesentry.explain.deep_pass import explain_audio
    from framesentry.inference.pipeline import analyze_file

    detectors = Detectors(settings)
    result = analyze_file(spliced_clip, settings, detectors)
    assert result.audio.status == "ok" and len(result.audio_windows) >= 4
    sal = explain_audio(spliced_clip, result, detectors, tmp_path, n_windows=4)
    assert sal is not None and len(sal.windows) == 4
    ranges = sal.top_ranges()
    top = ranges[0]
    middle = (top["start_s"] + top["end_s"]) / 2
    assert SPLICE[0] - 0.25 <= middle <= SPLICE[1] + 0.25, ranges
    # Bin by bin: the spliced seconds carry far more saliency than the real ones.
    grid = np.asarray(sal.grid, dtype=np.float64)
    t = sal.offset_s + (np.arange(len(grid)) + 0.5) * sal.time_bin_s
    inside = grid[(t >= SPLICE[0]) & (t < SPLICE[1]) & np.isfinite(grid)]
    outside = grid[((t < SPLICE[0] - 0.5) | (t >= SPLICE[1] + 0.5)) & np.isfinite(grid)]
    assert np.mean(inside) > np.mean(outside) + 0.5, (np.mean(inside), np.mean(outside))
    assert len(sal.band_ranking()) == 8
    data = json.loads((tmp_path / "audio_saliency.json").read_text())
    assert data["method"] == "occlusion" and data["top_ranges"][0] == top
    png = tmp_path / "audio_saliency.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
