"""The shipped audio detector and its training pipeline, on real and freshly synthesised speech."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from framesentry.config import Settings

RATE = 16000


@pytest.fixture(scope="module")
def utterances(settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """Real windows from four test-split LibriSpeech speakers and spoofs made now (espeak, flite, GL, LPC)."""
    from framesentry.inference.audio.windows import tile_to
    from framesentry.lab.audio.dataset import list_bonafide, read_audio, split_of
    from framesentry.lab.audio.spoofgen import resynthesise, synthesise_tts

    rng = np.random.default_rng(11)
    test_files = [p for p, spk in list_bonafide(settings.shared_dir) if split_of(f"speaker:{spk}") == "test"]
    seen: set[str] = set()
    real = []
    for p in test_files:
        spk = p.name.split("-")[0]
        if spk not in seen:
            seen.add(spk)
            real.append(tile_to(read_audio(p)[RATE : RATE + 64600], 64600))
        if len(real) == 4:
            break
    fake = [tile_to(synthesise_tts(g, rng)[0], 64600) for g in ("espeak", "flite")]
    fake += [resynthesise(g, real[i], rng)[0] for i, g in enumerate(("griffinlim", "lpc"))]
    return np.stack(real), np.stack(fake)


def test_committed_detector_separates_real_from_synthesised(
    settings: Settings, utterances: tuple[np.ndarray, np.ndarray]
) -> None:
    """The committed model gives every synthesised window a higher p_fake than the typical real one."""
    from framesentry.inference.audio.detector import AudioDetector

    det = AudioDetector.load(Settings(work_dir=settings.work_dir))
    real, fake = utterances
    p_real, p_fake = det.predict(real), det.predict(fake)
    assert det.window_samples == 64600 and det.version.startswith("audio-")
    assert p_real.shape == (len(real),) and p_real.dtype == np.float32
    assert np.all((p_real >= 0) & (p_real <= 1))
    assert float(np.median(p_real)) < 0.5 < float(np.median(p_fake)), (p_real, p_fake)
    assert float(np.mean(p_fake)) - float(np.mean(p_real)) > 0.4, (p_real, p_fake)


def test_detector_refuses_missing_or_swapped_weights(settings: Settings, tmp_path: Path) -> None:
    """Missing files and weights that do not match the card's sha256 are a ModelError, not a crash."""
    from framesentry.errors import ModelError
    from framesentry.inference.audio.detector import AudioDetector

    with pytest.raises(ModelError, match="missing"):
        AudioDetector.load(settings, model_dir=tmp_path)
    shutil.copytree(settings.models_dir / "audio", tmp_path / "audio")
    card = json.loads((tmp_path / "audio" / "model_card.json").read_text())
    card["weights_sha256"] = "0" * 64
    (tmp_path / "audio" / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="does not match"):
        AudioDetector.load(settings, model_dir=tmp_path / "audio")


def test_training_runs_end_to_end_on_tiny_subset(tmp_path: Path) -> None:
    """`train_audio` (v2 recipe) builds a tiny corpus (all 8 generators, all splits), trains, calibrates and writes a
    detector that loads back and scores windows."""
    from framesentry.inference.audio.detector import AudioDetector
    from framesentry.lab.audio.spoofgen import GENERATORS
    from framesentry.lab.audio.train import train_audio

    settings = Settings(work_dir=tmp_path / "work")
    out = tmp_path / "model"
    metrics = train_audio(settings, out, epochs=1, holdout_epochs=0, tiny=True, tiny_files=3, log=lambda m: None)
    assert {"test_clean", "test_codec", "speed"} <= set(metrics)
    assert set(metrics["test_clean"]["per_generator"]) <= set(GENERATORS)
    assert 0.0 <= metrics["test_clean"]["pooled"]["eer"] <= 1.0
    for name in ("spectral_cnn.pt", "calibration.json", "model_card.json", "MODEL_CARD.md"):
        assert (out / name).is_file()
    det = AudioDetector.load(settings, model_dir=out)
    p = det.predict(np.zeros((2, 64600), np.float32))
    assert p.shape == (2,) and np.all(np.isfinite(p))


def test_scoring_core_skips_non_speech_windows(settings: Settings, utterances: tuple[np.ndarray, np.ndarray]) -> None:
    """A tone-only stretch gets no p_fake (VAD says no speech); windows over real speech are scored."""
    from framesentry.inference.audio.windows import stack_windows
    from framesentry.inference.detectors import Detectors
    from framesentry.inference.scoring import ScoringCore, WindowJob

    core = ScoringCore(Detectors(Settings(work_dir=settings.work_dir)))
    t = np.arange(9 * RATE) / RATE
    tone = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    real, _ = utterances
    spans, windows = stack_windows(np.concatenate([tone, real[0], real[1]]), RATE, 64600, 2 * RATE)
    rows = core.score_windows([WindowJob(a, b, w) for (a, b), w in zip(spans, windows, strict=True)])
    assert rows[0].p_fake is None and rows[0].speech_fraction < 0.05
    scored = [r for r in rows if r.p_fake is not None]
    assert scored and scored[-1].end_s == pytest.approx(9 + 2 * 64600 / RATE)
    assert all(r.speech_fraction >= 0.3 for r in scored)
