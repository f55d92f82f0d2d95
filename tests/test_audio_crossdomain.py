"""crossdomain-dev audio evaluation: clips go through the upload path's scoring; eval merges its sections."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from framesentry.config import Settings


def test_audio_rows_are_the_33_labelled_clips(settings: Settings) -> None:
    from framesentry.lab.audio.crossdomain import audio_rows, crossdomain_root

    rows = audio_rows(crossdomain_root(settings))
    assert len(rows) == 33
    assert sum(r["label"] == "fake" for r in rows) == 17
    assert {r["manipulation"] for r in rows if r["label"] == "fake"} == {"TTS-Tortoise", "TTS-Tacotron2",
                                                                          "TTS-NaturalSpeech"}


def test_score_clip_matches_the_detector_on_the_same_windows(settings: Settings) -> None:
    """A real reference recording: every window is scored, and the clip score is their mean."""
    import numpy as np

    from framesentry.inference.detectors import Detectors
    from framesentry.lab.audio.crossdomain import crossdomain_root, score_clip

    det = Detectors(settings)
    res = score_clip(crossdomain_root(settings) / "media" / "a066.mp3", det)  # Emma Stone, real, 6 s
    assert res["windows_scored"] >= 1
    assert res["p_fake"] == pytest.approx(float(np.mean(res["window_p_fake"])), abs=1e-3)
    assert 0.0 <= res["p_fake"] <= 1.0


def test_eval_merges_sections_and_keeps_other_keys(tmp_path: Path) -> None:
    import typer

    from framesentry.cli.evaluate import SECTIONS, _place, _read_existing

    assert SECTIONS["crossdomain-audio"][0][0] == ("crossdomain", "audio")
    out = tmp_path / "quality.json"
    out.write_text(json.dumps({"visual": {"auc": 0.9}, "crossdomain": {"video": {"auc": 0.7}}}))
    results = _read_existing(out)
    _place(results, ("crossdomain", "audio"), {"auc": 0.5})
    assert results == {"visual": {"auc": 0.9}, "crossdomain": {"video": {"auc": 0.7}, "audio": {"auc": 0.5}}}
    out.write_text("not json")
    with pytest.raises(typer.BadParameter):
        _read_existing(out)
