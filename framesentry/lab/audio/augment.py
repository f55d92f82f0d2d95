"""Channel augmentation applied identically to bona fide and spoofed audio.

Why: our bona fide speech is LibriSpeech (MP3-sourced audiobooks) and half our spoofs are clean TTS. A
detector can "win" by learning that channel difference instead of synthesis artefacts. Passing both classes
through the same random codecs (MP3, AAC, Opus via PyAV), band limits, noise and gain removes that shortcut
and prepares the model for real uploads, which are almost always compressed.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from numpy.typing import NDArray

from framesentry.lab.audio.spoofgen import resample

RATE = 16000
CODECS = (("libmp3lame", "mp3", 44100), ("aac", "adts", 44100), ("libopus", "ogg", 48000))


def codec_roundtrip(x: NDArray[np.float32], codec: str, bitrate: int, container_rate: int) -> NDArray[np.float32]:
    """Encode to ``codec`` at ``bitrate`` bit/s in memory and decode back to 16 kHz mono (same length)."""
    import av

    fmt = {"libmp3lame": "mp3", "aac": "adts", "libopus": "ogg"}[codec]
    y = resample(np.asarray(x, dtype=np.float32), RATE, container_rate)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt) as out:
        stream: Any = out.add_stream(codec, rate=container_rate, layout="mono")  # stubs: any stream kind
        stream.bit_rate = bitrate
        frame_size = stream.codec_context.frame_size or 1024
        pcm = np.clip(y, -1.0, 1.0).astype(np.float32)
        target_fmt = stream.codec_context.format.name
        for i in range(0, pcm.size, frame_size):
            chunk = pcm[i : i + frame_size]
            if chunk.size < frame_size:
                chunk = np.pad(chunk, (0, frame_size - chunk.size))
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
            frame.sample_rate = container_rate
            if target_fmt != "flt":
                frame = av.AudioResampler(format=target_fmt, layout="mono", rate=container_rate).resample(frame)[0]
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buf.seek(0)
    with av.open(buf, mode="r") as inp:
        rs = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        chunks = [g.to_ndarray().ravel() for f in inp.decode(audio=0) for g in rs.resample(f)]
        chunks += [g.to_ndarray().ravel() for g in rs.resample(None)]
    z = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    # Encoders add a priming delay; align by cross-correlation over the first half second.
    lag = _delay(x, z)
    z = z[lag : lag + x.size]
    if z.size < x.size:
        z = np.pad(z, (0, x.size - z.size))
    return z.astype(np.float32)


def _delay(x: NDArray[np.float32], z: NDArray[np.float32], max_lag: int = 4000) -> int:
    """Lag (in samples, >= 0) at which ``z`` best matches ``x``."""
    n = min(x.size, 8000)
    if z.size < n + max_lag or n == 0:
        return 0
    scores = [float(np.dot(x[:n], z[k : k + n])) for k in range(0, max_lag, 8)]
    coarse = int(np.argmax(scores)) * 8
    lo, hi = max(coarse - 8, 0), coarse + 9
    fine = [float(np.dot(x[:n], z[k : k + n])) for k in range(lo, hi)]
    return lo + int(np.argmax(fine))


def codec_choice(rng: np.random.Generator) -> tuple[str, int, int, str]:
    """``(codec, bitrate, container rate, tag)`` drawn from common upload settings."""
    codec, _fmt, rate = CODECS[int(rng.integers(len(CODECS)))]
    bitrate = int(rng.choice([24000, 32000, 48000, 64000, 96000, 128000]))
    return codec, bitrate, rate, f"{codec}@{bitrate // 1000}k"


def random_codec(x: NDArray[np.float32], rng: np.random.Generator) -> tuple[NDArray[np.float32], str]:
    """One random lossy round trip (codec and bitrate drawn from common upload settings)."""
    codec, bitrate, rate, tag = codec_choice(rng)
    return codec_roundtrip(x, codec, bitrate, rate), tag


def random_channel(x: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
    """Cheap on-the-fly channel changes: band limit by resampling, additive noise, gain, time shift."""
    y = np.asarray(x, dtype=np.float32)
    if rng.random() < 0.25:  # telephone / low-rate band limit
        low = int(rng.choice([8000, 11025, 12000]))
        y = resample(resample(y, RATE, low), low, RATE)[: x.size]
        if y.size < x.size:
            y = np.pad(y, (0, x.size - y.size))
    if rng.random() < 0.4:
        rms = float(np.sqrt(np.mean(np.square(y)))) + 1e-8
        snr_db = float(rng.uniform(10.0, 40.0))
        noise = rng.standard_normal(y.size).astype(np.float32)
        if rng.random() < 0.5:  # pink-ish: integrate white noise lightly
            noise = np.cumsum(noise) * 0.02 + noise * 0.5
            noise -= noise.mean()
        noise *= rms / (float(np.sqrt(np.mean(np.square(noise)))) + 1e-8) / (10 ** (snr_db / 20))
        y = y + noise
    gain = 10 ** (float(rng.uniform(-12.0, 6.0)) / 20)
    y = np.clip(y * gain, -1.0, 1.0)
    return np.roll(y, int(rng.integers(0, y.size))).astype(np.float32)


def reverb(x: NDArray[np.float32], rng: np.random.Generator) -> tuple[NDArray[np.float32], str]:
    """Room reverberation: a synthetic impulse response (direct path + exponentially decaying noise tail with
    RT60 0.15-0.8 s), mixed so the tail is 3-15 dB below the direct sound; same loudness as the input."""
    from scipy.signal import fftconvolve

    rt60 = float(rng.uniform(0.15, 0.8))
    n = int(rt60 * RATE)
    t = np.arange(n) / RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)  # -60 dB at rt60
    tail[: int(0.002 * RATE)] = 0.0  # first reflections arrive after the direct path
    drr_db = float(rng.uniform(3.0, 15.0))
    tail *= 1.0 / (np.sqrt(np.sum(tail**2)) + 1e-9) / (10 ** (drr_db / 20))
    ir = np.concatenate([[1.0], tail[1:]])
    y = fftconvolve(np.asarray(x, dtype=np.float64), ir)[: x.size]
    y *= (np.sqrt(np.mean(np.square(x))) + 1e-9) / (np.sqrt(np.mean(y**2)) + 1e-9)
    return np.clip(y, -1.0, 1.0).astype(np.float32), f"reverb:rt{rt60:.2f}:drr{drr_db:.0f}"


def channel_copy(x: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
    """One augmented version of a (codec round-tripped) window, drawn the same way for both classes:
    reverberation (half the time), then band limit, noise and gain (``random_channel``)."""
    y = reverb(x, rng)[0] if rng.random() < 0.5 else np.asarray(x, dtype=np.float32)
    return random_channel(y, rng)
