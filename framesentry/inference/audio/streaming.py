"""Audio windows from a stream of chunks, with bounded memory.

Produces exactly the windows ``windows.iter_windows`` would produce on the whole signal (same starts, the
last one aligned to the end, short audio tiled), but holds at most one window plus one chunk in memory, so
an hour of audio is never loaded at once. The live path feeds it chunks as they arrive.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from framesentry.inference.audio.windows import tile_to


@dataclass(frozen=True)
class AudioWindow:
    """One model input: ``samples`` (exactly window length) covering real audio ``start_s..end_s``."""

    start_s: float
    end_s: float
    samples: NDArray[np.float32]


def stream_windows(
    chunks: Iterable[NDArray[np.float32]], sample_rate: int, window_samples: int, stride_samples: int
) -> Iterator[AudioWindow]:
    """Yield windows as soon as enough audio has arrived; see the module docstring for the layout."""
    if window_samples <= 0 or stride_samples <= 0:
        raise ValueError("window and stride must be positive")
    buf = np.zeros(0, dtype=np.float32)
    buf_start = 0  # absolute sample index of buf[0]
    next_start = 0
    last_end = 0  # absolute end of the last emitted window
    for chunk in chunks:
        buf = np.concatenate([buf, np.asarray(chunk, dtype=np.float32).ravel()])
        buf_end = buf_start + buf.size
        while next_start + window_samples <= buf_end:
            a = next_start - buf_start
            yield AudioWindow(
                next_start / sample_rate,
                (next_start + window_samples) / sample_rate,
                buf[a : a + window_samples].copy(),
            )
            last_end = next_start + window_samples
            next_start += stride_samples
        # Keep what the next window needs, and at least one window's worth for an end-aligned last window.
        keep_from = max(buf_start, min(next_start, buf_end - window_samples))
        buf = buf[keep_from - buf_start :]
        buf_start = keep_from
    total = buf_start + buf.size
    if total == 0:
        return
    if last_end == 0:  # shorter than one window: tile it, as the models were trained
        yield AudioWindow(0.0, total / sample_rate, tile_to(buf[buf.size - total :], window_samples))
    elif last_end < total:
        a = total - window_samples - buf_start
        yield AudioWindow((total - window_samples) / sample_rate, total / sample_rate, buf[a:].copy())
