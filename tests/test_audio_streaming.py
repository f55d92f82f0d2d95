"""Streaming audio windows equal whole-signal windows, whatever the chunking."""

from __future__ import annotations

import numpy as np
import pytest

from framesentry.inference.audio.streaming import stream_windows
from framesentry.inference.audio.windows import iter_windows


@pytest.mark.parametrize("n_samples", [500, 1000, 1001, 4321, 10_000])
@pytest.mark.parametrize("chunk", [7, 250, 999, 20_000])
def test_streaming_matches_whole_signal(n_samples: int, chunk: int) -> None:
    """Same starts, ends and samples as iter_windows on the full array, for any chunk size."""
    rng = np.random.default_rng(n_samples + chunk)
    x = rng.standard_normal(n_samples).astype(np.float32)
    expected = list(iter_windows(x, 100, window_samples=1000, stride_samples=300))
    chunks = (x[i : i + chunk] for i in range(0, n_samples, chunk))
    got = list(stream_windows(chunks, 100, window_samples=1000, stride_samples=300))
    assert [(w.start_s, w.end_s) for w in got] == [(a, b) for a, b, _ in expected]
    for w, (_, _, e) in zip(got, expected, strict=True):
        np.testing.assert_array_equal(w.samples, e)


def test_streaming_holds_bounded_memory() -> None:
    """The internal buffer never grows past one window plus one chunk, even for a long stream."""
    import tracemalloc

    chunk = np.ones(1600, dtype=np.float32)
    tracemalloc.start()
    count = sum(1 for _ in stream_windows((chunk for _ in range(10_000)), 16000, 64600, 32000))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # 16 M samples (64 MB as float32) with a 2 s hop: about 500 windows, with a peak of a few windows.
    assert 490 < count < 510
    assert peak < 4 * 64600 * 4 + 1_000_000


def test_empty_stream_yields_nothing() -> None:
    """No audio, no windows (an audio track that decodes to nothing is 'no speech', not an error)."""
    assert list(stream_windows(iter([]), 16000, 64600, 32000)) == []
