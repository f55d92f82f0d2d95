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


class WindowCutter:
    """Push-based form of the windowing: feed chunks as they arrive, get each window as soon as it is complete.

    The live path pushes decoded audio into one of these per stream; ``stream_windows`` drives it from an
    iterable. Holds at most one window plus one chunk.
    """

    def __init__(self, sample_rate: int, window_samples: int, stride_samples: int) -> None:
        if window_samples <= 0 or stride_samples <= 0:
            raise ValueError("window and stride must be positive")
        self.sample_rate = sample_rate
        self.window_samples = window_samples
        self.stride_samples = stride_samples
        self._buf = np.zeros(0, dtype=np.float32)
        self._buf_start = 0  # absolute sample index of _buf[0]
        self._next_start = 0
        self._last_end = 0  # absolute end of the last emitted window

    @property
    def samples_seen(self) -> int:
        return self._buf_start + self._buf.size

    def push(self, chunk: NDArray[np.float32]) -> list[AudioWindow]:
        """Add samples; return the windows they complete (often none)."""
        rate, size = self.sample_rate, self.window_samples
        self._buf = np.concatenate([self._buf, np.asarray(chunk, dtype=np.float32).ravel()])
        buf_end = self._buf_start + self._buf.size
        out: list[AudioWindow] = []
        while self._next_start + size <= buf_end:
            a = self._next_start - self._buf_start
            out.append(
                AudioWindow(self._next_start / rate, (self._next_start + size) / rate, self._buf[a : a + size].copy())
            )
            self._last_end = self._next_start + size
            self._next_start += self.stride_samples
        # Keep what the next window needs, and at least one window's worth for an end-aligned last window.
        keep_from = max(self._buf_start, min(self._next_start, buf_end - size))
        self._buf = self._buf[keep_from - self._buf_start :]
        self._buf_start = keep_from
        return out

    def finish(self) -> list[AudioWindow]:
        """The end of the stream: the end-aligned last window, or the whole (tiled) audio if it was short."""
        total = self.samples_seen
        buf, rate, size = self._buf, self.sample_rate, self.window_samples
        if total == 0:
            return []
        if self._last_end == 0:  # shorter than one window: tile it, as the models were trained
            return [AudioWindow(0.0, total / rate, tile_to(buf[buf.size - total :], size))]
        if self._last_end < total:
            a = total - size - self._buf_start
            return [AudioWindow((total - size) / rate, total / rate, buf[a:].copy())]
        return []


def stream_windows(
    chunks: Iterable[NDArray[np.float32]], sample_rate: int, window_samples: int, stride_samples: int
) -> Iterator[AudioWindow]:
    """Yield windows as soon as enough audio has arrived; see the module docstring for the layout."""
    cutter = WindowCutter(sample_rate, window_samples, stride_samples)
    for chunk in chunks:
        yield from cutter.push(chunk)
    yield from cutter.finish()
