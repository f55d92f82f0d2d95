"""Offline engine throughput: ms per batch (percentiles) and items/s per backend and batch size, beside a
naive baseline measured in the same process (PyTorch eager, one item at a time, no batching).

Only timing lives here; which models and inputs to use is the CLI's business (``cli/bench.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

ITEM_BUDGET = 512
"""Items timed per (backend, batch size) beyond warm-up: fewer repeats for large batches keeps a CPU run short."""


def repeats_for(batch: int, most: int) -> int:
    """At least 2 timed repeats, at most ``most``, about ``ITEM_BUDGET`` items in all."""
    return max(2, min(most, ITEM_BUDGET // max(1, batch)))


def tile(sample: NDArray[np.float32], n: int) -> NDArray[np.float32]:
    """``n`` inputs made by repeating the real ``sample`` items (timing does not depend on their content)."""
    reps = -(-n // len(sample))
    return np.ascontiguousarray(np.concatenate([sample] * reps)[:n])


def _summary(seconds: list[float], items: int) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000.0
    p50 = float(np.percentile(ms, 50))
    return {
        "ms_p50": round(p50, 3),
        "ms_p90": round(float(np.percentile(ms, 90)), 3),
        "ms_min": round(float(ms.min()), 3),
        "items_per_s": round(items / (p50 / 1000.0), 1) if p50 > 0 else float("inf"),
    }


def time_batches(run: Callable[[Any], Any], x: NDArray[np.float32], repeats: int, warmup: int = 1) -> dict[str, Any]:
    """Time ``run(x)`` ``repeats`` times after ``warmup`` untimed calls."""
    for _ in range(warmup):
        run(x)
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(x)
        seconds.append(time.perf_counter() - t0)
    return {"batch": len(x), "repeats": repeats, **_summary(seconds, len(x))}


def naive_seconds(module: Any, x: NDArray[np.float32]) -> list[float]:
    """PyTorch eager, one item per call, no batching (the way a first prototype scores frames): seconds per call."""
    import torch

    module.eval()
    with torch.inference_mode():
        for _ in range(3):  # warm-up: thread pools, allocator
            module(torch.from_numpy(x[:1]))
        seconds = []
        for i in range(len(x)):
            t0 = time.perf_counter()
            module(torch.from_numpy(x[i : i + 1]))
            seconds.append(time.perf_counter() - t0)
    return seconds


def naive_summary(seconds: list[float]) -> dict[str, Any]:
    return {"batch": 1, "items": len(seconds), **_summary(seconds, 1)}


def bench_interleaved(
    runs: dict[str, Callable[[Any], Any]], sample: NDArray[np.float32], batch_sizes: list[int], repeats: int
) -> dict[str, list[dict[str, Any]]]:
    """One row per backend and batch size; backends alternate within each batch size, so load from other
    processes on a shared machine falls on all of them alike rather than on whichever ran last."""
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in runs}
    for b in batch_sizes:
        x = tile(sample, b)
        for name, run in runs.items():
            rows[name].append(time_batches(run, x, repeats_for(b, repeats)))
    return rows
