"""Synthesising the project's spoofed-speech set, offline, with tools installed on the machine.

Eight generators. The four classic ones are here; the four neural ones (Kokoro, Piper, HiFi-GAN, LPCNet)
are in ``neuralgen`` and dispatched from ``synthesise_tts`` / ``resynthesise``. The classic four, chosen to
cover different kinds of synthetic speech we can make without a network:
- ``espeak``: formant synthesis (espeak-ng), several accents/voice variants, rates and pitches;
- ``flite``: diphone/clustergen synthesis (CMU flite), all installed voices, duration and pitch changes;
- ``griffinlim``: magnitude-only resynthesis of a real utterance (phase from Griffin-Lim), optionally
  through an 80-band mel bottleneck, like an old neural-TTS back end;
- ``lpc``: source-filter vocoder: LPC envelope + pulse/noise excitation from an autocorrelation pitch;
The three resynthesis generators start from a real speaker's audio, so they keep that speaker's split.
Text for TTS comes from ``sentence()``, a template generator over word lists written here (no licence).
"""

from __future__ import annotations

import io
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from framesentry.errors import DataError

RATE = 16000
TTS_GENERATORS = ("espeak", "flite", "kokoro", "piper")
RESYNTH_GENERATORS = ("griffinlim", "lpc", "hifigan", "lpcnet")
GENERATORS = TTS_GENERATORS + RESYNTH_GENERATORS
NEURAL_GENERATORS = ("kokoro", "piper", "hifigan", "lpcnet")

_SUBJ = ("the old farmer", "my sister", "a tired traveller", "the small committee", "our neighbour",
         "the young doctor", "every student", "the captain", "a quiet boy", "the village baker",
         "her grandfather", "the new teacher", "a stranger", "the harbour master", "two sailors")
_VERB = ("carried", "noticed", "painted", "forgot", "described", "repaired", "wanted", "found",
         "sold", "watched", "followed", "borrowed", "opened", "counted", "remembered")
_OBJ = ("the heavy wooden box", "a letter from the north", "seven silver coins", "the broken lantern",
        "an empty basket", "the map of the river", "a warm loaf of bread", "the green umbrella",
        "the last train ticket", "a book about birds", "the garden gate", "a bowl of cherries")
_ADV = ("before the storm arrived", "in the middle of the night", "without saying a word",
        "while the children were asleep", "near the edge of the forest", "after a long winter",
        "on the way to the market", "just as the bells began to ring", "under the bright moon",
        "at the end of the summer", "with great care", "for no reason at all")
_OPEN = ("", "", "Yesterday, ", "Of course, ", "Later that evening, ", "Strangely enough, ",
         "As everyone expected, ", "Some years ago, ")

ESPEAK_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan",
                 "en-us-nyc", "en-gb-x-gbcwmd")
ESPEAK_VARIANTS = ("", "+m1", "+m3", "+m5", "+f1", "+f2", "+f4", "+klatt", "+klatt4", "+croak", "+whisper")
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")


def sentence(rng: np.random.Generator, n: int = 2, short: bool = False) -> str:
    """``n`` random, grammatical English sentences (enough for 3-8 s of speech; ``short``: ~2 s each)."""
    parts = []
    for _ in range(n):
        s = f"{rng.choice(_SUBJ)} {rng.choice(_VERB)} {rng.choice(_OBJ)}." if short else (
            f"{rng.choice(_OPEN)}{rng.choice(_SUBJ)} {rng.choice(_VERB)} {rng.choice(_OBJ)} {rng.choice(_ADV)}.")
        parts.append(s[0].upper() + s[1:])
    return " ".join(parts)


def _read_wav_bytes(data: bytes) -> tuple[NDArray[np.float32], int]:
    """PCM-16 WAV bytes -> float mono and its rate (what espeak-ng and flite write)."""
    with wave.open(io.BytesIO(data)) as w:
        sr, ch, n = w.getframerate(), w.getnchannels(), w.getnframes()
        pcm = np.frombuffer(w.readframes(n), dtype=np.int16).astype(np.float32) / 32768.0
    return pcm.reshape(-1, ch).mean(axis=1), sr


def resample(x: NDArray[np.float32], sr_in: int, sr_out: int = RATE) -> NDArray[np.float32]:
    """Polyphase resampling (exact rational ratio)."""
    if sr_in == sr_out:
        return np.asarray(x, dtype=np.float32)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(sr_in, sr_out)
    return np.asarray(resample_poly(x, sr_out // g, sr_in // g), dtype=np.float32)


def _run(cmd: list[str]) -> bytes:
    try:
        return subprocess.run(cmd, check=True, capture_output=True, timeout=60).stdout
    except FileNotFoundError as exc:
        raise DataError(f"{cmd[0]} is not installed; it is needed to synthesise spoofed speech") from exc
    except subprocess.SubprocessError as exc:
        raise DataError(f"{cmd[0]} failed: {exc}") from exc


def espeak(text: str, rng: np.random.Generator) -> tuple[NDArray[np.float32], str]:
    """espeak-ng with a random accent, variant, rate (words/min) and pitch; returns (16 kHz audio, tag)."""
    voice = f"{rng.choice(ESPEAK_VOICES)}{rng.choice(ESPEAK_VARIANTS)}"
    rate, pitch = int(rng.integers(120, 200)), int(rng.integers(25, 75))
    data = _run(["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "--stdout", text])
    x, sr = _read_wav_bytes(data)
    return resample(x, sr), f"espeak:{voice}:s{rate}:p{pitch}"


def flite(text: str, rng: np.random.Generator) -> tuple[NDArray[np.float32], str]:
    """CMU flite with a random voice, duration stretch and pitch target; returns (16 kHz audio, tag)."""
    voice = str(rng.choice(FLITE_VOICES))
    stretch = float(rng.uniform(0.85, 1.25))
    opts = ["--setf", f"duration_stretch={stretch:.2f}"]
    f0 = None
    if rng.random() < 0.5:
        f0 = int(rng.integers(90, 200))
        opts += ["--setf", f"int_f0_target_mean={f0}"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "x.wav"
        _run(["flite", "-voice", voice, *opts, "-t", text, "-o", str(out)])
        x, sr = _read_wav_bytes(out.read_bytes())
    return resample(x, sr), f"flite:{voice}:d{stretch:.2f}:f{f0}"


def griffinlim(x: NDArray[np.float32], rng: np.random.Generator) -> tuple[NDArray[np.float32], str]:
    """Keep the STFT magnitude of real speech, re-estimate phase with Griffin-Lim (torchaudio)."""
    import torch
    import torchaudio.transforms as T

    n_fft = int(rng.choice([512, 1024]))
    hop = n_fft // 4
    n_iter = int(rng.choice([8, 16, 32]))
    wav = torch.from_numpy(np.asarray(x, dtype=np.float32))
    spec = T.Spectrogram(n_fft=n_fft, hop_length=hop, power=1.0)(wav)
    tag = f"griffinlim:n{n_fft}:h{hop}:i{n_iter}"
    if rng.random() < 0.5:  # mel bottleneck, like a mel-spectrogram TTS front end
        fb = T.MelScale(n_mels=80, sample_rate=RATE, n_stft=n_fft // 2 + 1).fb  # (freq, mel)
        mel = fb.T @ spec
        spec = torch.clamp(torch.linalg.pinv(fb.T) @ mel, min=0.0)
        tag += ":mel80"
    gl = T.GriffinLim(n_fft=n_fft, hop_length=hop, n_iter=n_iter, power=1.0, momentum=0.99)
    # Griffin-Lim starts from random phase (torch's global generator): seed it from ``rng`` so the corpus, and
    # every number `framesentry eval` reports on it, is the same on every run.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(rng.integers(2**31 - 1)))
        y = gl(spec).numpy()
    return _match_length(y, x.size), tag


def lpc(x: NDArray[np.float32], rng: np.random.Generator) -> tuple[NDArray[np.float32], str]:
    """Classic LPC vocoder: per-frame all-pole envelope driven by pulses (voiced) or noise (unvoiced)."""
    from scipy.linalg import solve_toeplitz
    from scipy.signal import lfilter

    order = int(rng.choice([12, 16, 20, 24]))
    frame, hop = 400, 200
    win = np.hanning(frame)
    xp = np.pad(np.asarray(x, dtype=np.float64), (0, frame))
    y = np.zeros_like(xp)
    phase = 0.0
    for start in range(0, x.size, hop):
        seg = xp[start : start + frame] * win
        r = np.correlate(seg, seg, mode="full")[frame - 1 :]
        if r[0] < 1e-8:
            continue
        r[0] *= 1.0 + 1e-4  # white-noise correction keeps the system well conditioned
        a = solve_toeplitz(r[:order], r[1 : order + 1])
        err = max(r[0] - float(np.dot(a, r[1 : order + 1])), 1e-10)
        lag_lo, lag_hi = RATE // 400, RATE // 60
        lag = lag_lo + int(np.argmax(r[lag_lo:lag_hi]))
        voiced = r[lag] / r[0] > 0.3
        if voiced:
            exc = np.zeros(frame)
            pos = phase
            while pos < frame:
                exc[int(pos)] = np.sqrt(lag)
                pos += lag
            phase = pos - hop
        else:
            exc = rng.standard_normal(frame)
            phase = 0.0
        exc *= np.sqrt(err / max(float(np.dot(exc, exc)), 1e-10))  # residual energy of the frame
        y[start : start + frame] += lfilter([1.0], np.concatenate([[1.0], -a]), exc) * win
    return _match_length(y.astype(np.float32), x.size), f"lpc:o{order}"


def _match_length(y: NDArray[np.float32], n: int) -> NDArray[np.float32]:
    """Trim/pad a resynthesis to the source length and keep it inside [-1, 1]."""
    y = np.asarray(y[:n], dtype=np.float32)
    if y.size < n:
        y = np.pad(y, (0, n - y.size))
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    return y / peak * 0.95 if peak > 1.0 else y


def synthesise_tts(generator: str, rng: np.random.Generator) -> tuple[NDArray[np.float32], str, str]:
    """One TTS utterance: ``(audio, tag, text)``. Kokoro (~1.5x real time on one core) gets one short sentence
    (tiled to the window like any short clip)."""
    from framesentry.lab.audio import neuralgen

    fns = {"espeak": espeak, "flite": flite, "kokoro": neuralgen.kokoro, "piper": neuralgen.piper}
    fn = fns.get(generator)
    if fn is None:
        raise ValueError(f"not a TTS generator: {generator}")
    text = sentence(rng, n=1, short=True) if generator == "kokoro" else sentence(rng, n=int(rng.integers(1, 3)))
    audio, tag = fn(text, rng)
    return audio, tag, text


def resynthesise(generator: str, x: NDArray[np.float32], rng: np.random.Generator) -> tuple[NDArray[np.float32], str]:
    """Resynthesise a real 16 kHz segment with one of ``RESYNTH_GENERATORS``."""
    from framesentry.lab.audio import neuralgen

    fn = {"griffinlim": griffinlim, "lpc": lpc, "hifigan": neuralgen.hifigan, "lpcnet": neuralgen.lpcnet}.get(generator)
    if fn is None:
        raise ValueError(f"not a resynthesis generator: {generator}")
    y, tag = fn(x, rng)
    # Same loudness as the source, so level is no cue for the detector.
    rms_x, rms_y = float(np.sqrt(np.mean(np.square(x)))), float(np.sqrt(np.mean(np.square(y))))
    if rms_y > 1e-6:
        y = y * (rms_x / rms_y)
    return _match_length(np.clip(y, -1.0, 1.0).astype(np.float32), x.size), tag
