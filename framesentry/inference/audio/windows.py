"""Cutting a mono signal into the fixed-length, overlapping windows the audio models score.

AASIST (and our spectral model) take exactly 64,600 samples. Longer audio is cut with a hop of
``stride_samples``; a final window is aligned to the end of the signal so the tail is covered by real
audio rather than padding; audio shorter than one window is tiled (repeated), as AASIST was trained.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray


def tile_to(x: NDArray[np.float32], length: int) -> NDArray[np.float32]:
    """Repeat ``x`` until it is ``length`` samples long (silence if ``x`` is empty)."""
    if length <= 0:
        raise ValueError("length must be positive")
    if x.size == 0:
        return np.zeros(length, dtype=np.float32)
    reps = -(-length // x.size)
    return np.asarray(np.tile(x, reps)[:length], dtype=np.float32)


def window_starts(n_samples: int, window_samples: int, stride_samples: int) -> list[int]:
    """Start offsets that cover ``[0, n_samples)``; the last window ends exactly at the signal's end."""
    if window_samples <= 0 or stride_samples <= 0:
        raise ValueError("window and stride must be positive")
    if n_samples <= window_samples:
        return [0]
    starts = list(range(0, n_samples - window_samples + 1, stride_samples))
    if starts[-1] + window_samples < n_samples:
        starts.append(n_samples - window_samples)
    return starts


def iter_windows(
    audio: NDArray[np.float32], sample_rate: int, window_samples: int, stride_samples: int
) -> Iterator[tuple[float, float, NDArray[np.float32]]]:
    """Yield ``(start_s, end_s, window)``; ``end_s`` is where real audio ends (tiling adds none)."""
    x = np.asarray(audio, dtype=np.float32).ravel()
    if x.size == 0:
        return
    for s in window_starts(x.size, window_samples, stride_samples):
        chunk = x[s : s + window_samples]
        end = s + chunk.size
        if chunk.size < window_samples:
            chunk = tile_to(chunk, window_samples)
        yield s / sample_rate, end / sample_rate, chunk


def stack_windows(
    audio: NDArray[np.float32], sample_rate: int, window_samples: int, stride_samples: int
) -> tuple[NDArray[np.float64], NDArray[np.float32]]:
    """All windows at once: ``(spans [N, 2] in seconds, windows [N, window_samples])``."""
    spans: list[tuple[float, float]] = []
    wins: list[NDArray[np.float32]] = []
    for a, b, w in iter_windows(audio, sample_rate, window_samples, stride_samples):
        spans.append((a, b))
        wins.append(w)
    if not wins:
        return np.zeros((0, 2)), np.zeros((0, window_samples), dtype=np.float32)
    return np.asarray(spans, dtype=np.float64), np.stack(wins)
