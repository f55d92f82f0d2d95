"""Audio building blocks: AASIST loads the published weights, VAD and windowing behave on real media."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from framesentry.config import Settings

RATE = 16000


@pytest.fixture(scope="module")
def libri(settings: Settings) -> np.ndarray:
    """A real LibriSpeech utterance (train-clean-100, speaker 103), 16 kHz float32."""
    from framesentry.lab.audio.dataset import read_audio

    return read_audio(settings.shared_dir / "data" / "librispeech" / "train-clean-100" / "103-1240-0000.flac")


@pytest.fixture(scope="module")
def espeak_speech() -> np.ndarray:
    """An espeak-ng utterance synthesised now (formant TTS), resampled to 16 kHz."""
    from framesentry.lab.audio.spoofgen import espeak

    audio, _tag = espeak("The old farmer carried the heavy wooden box before the storm arrived.",
                         np.random.default_rng(3))
    return audio


@pytest.mark.parametrize("variant,n_params", [("AASIST", 297_866), ("AASIST-L", 85_306)])
def test_aasist_loads_strict_and_outputs_two_logits(settings: Settings, variant: str, n_params: int) -> None:
    """Both published checkpoints load with strict=True into our architecture and give [B, 2] logits."""
    import torch

    from framesentry.inference.audio.aasist import AASIST_SAMPLES, load_aasist

    model = load_aasist(settings.shared_dir, variant)
    assert sum(p.numel() for p in model.parameters()) == n_params
    x = torch.from_numpy(np.random.default_rng(0).uniform(-0.1, 0.1, (2, AASIST_SAMPLES)).astype(np.float32))
    with torch.inference_mode():
        out = model(x)
    assert out.shape == (2, 2) and torch.isfinite(out).all()


def test_aasist_mismatched_weights_raise_model_error(settings: Settings, tmp_path: Path) -> None:
    """A checkpoint that does not fit (here: AASIST-L weights under the AASIST config) is a clear ModelError."""
    import shutil

    from framesentry.errors import ModelError
    from framesentry.inference.audio.aasist import load_aasist

    root = tmp_path / "weights" / "aasist"
    root.mkdir(parents=True)
    src = settings.shared_dir / "weights" / "aasist"
    shutil.copy(src / "AASIST-L.pth", root / "AASIST.pth")
    shutil.copy(src / "AASIST.conf", root / "AASIST.conf")
    with pytest.raises(ModelError, match="do not match"):
        load_aasist(tmp_path, "AASIST")
    with pytest.raises(ModelError, match="missing"):
        load_aasist(tmp_path, "AASIST-L")


def test_pretrained_aasist_real_vs_espeak(settings: Settings, libri: np.ndarray, espeak_speech: np.ndarray) -> None:
    """Pretrained AASIST calls real LibriSpeech bona fide (logit[1] > logit[0]) and espeak-ng speech spoof."""
    from framesentry.inference.audio.aasist import AASIST_SAMPLES, load_aasist
    from framesentry.inference.audio.detector import aasist_fake_logits
    from framesentry.inference.audio.windows import tile_to

    model = load_aasist(settings.shared_dir, "AASIST")
    x = np.stack([tile_to(libri, AASIST_SAMPLES), tile_to(espeak_speech, AASIST_SAMPLES)])
    fake = aasist_fake_logits(model, x)
    assert fake[0] < 0 < fake[1], fake


def test_vad_separates_speech_from_tone_and_silence(libri: np.ndarray) -> None:
    """Silero VAD (offline, from the wheel) finds speech in LibriSpeech but none in a sine tone or silence."""
    from framesentry.inference.audio.vad import VoiceActivity

    vad = VoiceActivity()
    t = np.arange(5 * RATE) / RATE
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    assert vad.speech_fraction(tone, RATE) < 0.05
    assert vad.speech_fraction(np.zeros(5 * RATE, np.float32), RATE) < 0.05
    assert vad.speech_fraction(libri, RATE) > 0.6
    # Per-window fractions line up with the windows: silence first, then speech.
    signal = np.concatenate([np.zeros(6 * RATE, np.float32), libri])
    fr = vad.window_fractions(signal, RATE, 64600, 32000)
    assert fr[0] < 0.05 and fr[-1] > 0.6


def test_windows_cover_signal_with_configured_overlap() -> None:
    """Windows hop by the configured stride, overlap by window - stride, and the last one ends at the end."""
    from framesentry.inference.audio.windows import iter_windows, stack_windows

    s = Settings()
    win, hop = s.audio_window_samples, round(s.audio_stride_s * s.audio_sample_rate)
    assert win == 64600
    audio = np.random.default_rng(0).uniform(-1, 1, 11 * RATE + 123).astype(np.float32)
    spans, windows = stack_windows(audio, RATE, win, hop)
    starts = np.round(spans[:, 0] * RATE).astype(int)
    assert starts[0] == 0 and np.all(np.diff(starts)[:-1] == hop) and 0 < np.diff(starts)[-1] <= hop
    assert round(spans[-1, 1] * RATE) == audio.size
    assert windows.shape == (len(spans), win)
    for (a, _b), w in zip(spans, windows, strict=True):
        i = round(a * RATE)
        np.testing.assert_array_equal(w, audio[i : i + win])
    # A short clip is one tiled window whose real extent is reported.
    short = audio[:RATE]
    [(a, b, w)] = list(iter_windows(short, RATE, win, hop))
    assert (a, b) == (0.0, 1.0) and w.shape == (win,)
    np.testing.assert_array_equal(w[RATE : 2 * RATE], short)
