"""Fusion, verdict and calibration logic on hand-made numbers whose right answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from framesentry.inference.calibration import Calibrator, fit_temperature
from framesentry.inference.fusion import (
    AudioObservation,
    FaceObservation,
    audio_video_score,
    fuse_modalities,
    segment_scores,
    track_score,
    visual_video_score,
)
from framesentry.inference.metrics import accuracy_at, equal_error_rate, expected_calibration_error, roc_auc
from framesentry.inference.result import Verdict
from framesentry.inference.verdict import decide


def test_fusion_drops_missing_modalities_and_keeps_a_lone_one_calibrated() -> None:
    """A missing modality is left out (not read as 'real'); one present modality keeps its probability."""
    assert fuse_modalities(None, None) is None
    assert fuse_modalities(0.8, None) == pytest.approx(0.8)
    assert fuse_modalities(None, 0.13) == pytest.approx(0.13)
    assert fuse_modalities(0.5, 0.5) == pytest.approx(0.5)  # no evidence either way: the stated prior


def test_two_modalities_leaning_real_give_a_confident_real() -> None:
    """0.2 and 0.2 was 0.36 (Uncertain) under noisy-OR; evidence that agrees must make the call surer."""
    fused = fuse_modalities(0.2, 0.2)
    assert fused is not None and fused < 0.2
    verdict, confidence = decide(fused, real_threshold=0.3, fake_threshold=0.7)
    assert verdict is Verdict.REAL and confidence > 0.8
    assert fuse_modalities(0.2, 0.2) == pytest.approx(fuse_modalities(0.2, 0.2, prior=0.5))
    assert fuse_modalities(0.2, 0.2, prior=0.1) < fused < fuse_modalities(0.2, 0.2, prior=0.9)


def test_one_clearly_fake_modality_makes_the_video_fake() -> None:
    """A face swap with real speech is still a fake: 'any modality manipulated', not an average."""
    fused = fuse_modalities(0.95, 0.1)
    assert fused is not None and fused >= 0.85
    assert fuse_modalities(0.1, 0.95) == pytest.approx(fused)
    assert decide(fused, real_threshold=0.3, fake_threshold=0.7)[0] is Verdict.FAKE
    with pytest.raises(ValueError):
        fuse_modalities(0.5, prior=1.0)


def test_track_score_ignores_a_few_bad_frames_either_way() -> None:
    """Two glitch frames of 0.99 among 20 real ones stay real, two clean frames in a fake track stay fake;
    a track fake in half its frames is in the middle; short tracks are plain means."""
    assert track_score([0.1] * 20 + [0.99] * 2) == pytest.approx(0.1)
    assert track_score([0.9] * 20 + [0.01] * 2) == pytest.approx(0.9)
    assert 0.4 < track_score([0.1] * 10 + [0.9] * 10) < 0.6
    assert track_score([0.4]) == pytest.approx(0.4)
    assert track_score([0.2, 0.6]) == pytest.approx(0.4)
    with pytest.raises(ValueError):
        track_score([])


def test_visual_score_is_worst_steady_track() -> None:
    """One manipulated person makes the video manipulated; a one-frame blip does not outvote steady tracks."""
    faces = [FaceObservation(t, 1, (0, 0, 10, 10), 0.1) for t in (0.0, 0.5, 1.0)]
    faces += [FaceObservation(t, 2, (20, 0, 30, 10), 0.9) for t in (0.0, 0.5)]
    faces += [FaceObservation(1.0, 3, (40, 0, 50, 10), 0.99)]
    assert visual_video_score(faces) == pytest.approx(0.9)
    assert visual_video_score([]) is None


def test_segments_locate_the_manipulated_seconds() -> None:
    """Per-segment scores point at the seconds where the fake audio is, not elsewhere."""
    windows = [AudioObservation(0.0, 4.0, 0.05), AudioObservation(4.0, 8.0, 0.95)]
    segs = segment_scores([], windows, duration_s=8.0, segment_s=2.0)
    assert [s.start_s for s in segs] == [0.0, 2.0, 4.0, 6.0]
    assert segs[0].p_fake < 0.1 and segs[3].p_fake > 0.9
    assert audio_video_score(windows) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("p", "expected"), [(0.05, Verdict.REAL), (0.5, Verdict.UNCERTAIN), (0.95, Verdict.FAKE), (0.3, Verdict.REAL)]
)
def test_verdict_thresholds(p: float, expected: Verdict) -> None:
    """Thresholds are inclusive on both sides; the middle band is Uncertain."""
    verdict, confidence = decide(p, real_threshold=0.3, fake_threshold=0.7)
    assert verdict is expected
    assert confidence == pytest.approx(max(p, 1 - p))


def test_temperature_scaling_fixes_overconfidence() -> None:
    """Logits scaled 4x too large are over-confident; fitted temperature recovers ~4 and lowers ECE."""
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, 4000)
    labels = (rng.random(4000) < 1 / (1 + np.exp(-true_logits))).astype(int)
    raw = 4.0 * true_logits
    cal = fit_temperature(raw, labels)
    assert cal.temperature == pytest.approx(4.0, rel=0.15)
    before = expected_calibration_error(Calibrator()(raw), labels)
    after = expected_calibration_error(cal(raw), labels)
    assert after < before / 2 and after < 0.03
    # Calibration is monotone: ranking (AUC) is unchanged.
    assert roc_auc(cal(raw), labels) == pytest.approx(roc_auc(raw, labels))


def test_metrics_on_known_cases() -> None:
    """Perfect separation has AUC 1 and EER 0; reversed scores have AUC 0; accuracy counts correct calls."""
    y = np.array([0, 0, 1, 1])
    assert roc_auc([0.1, 0.2, 0.8, 0.9], y) == 1.0
    assert roc_auc([0.9, 0.8, 0.2, 0.1], y) == 0.0
    eer, _ = equal_error_rate([0.1, 0.2, 0.8, 0.9], y)
    assert eer == pytest.approx(0.0)
    assert accuracy_at([0.1, 0.6, 0.4, 0.9], y, 0.5) == 0.5
    with pytest.raises(ValueError):
        roc_auc([0.1, 0.2], [1, 1])
