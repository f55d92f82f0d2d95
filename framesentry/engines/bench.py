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


def naive_baseline(module: Any, x: NDArray[np.float32]) -> dict[str, Any]:
    """PyTorch eager, one item per call, no batching: the way a first prototype scores frames."""
    import torch

    module.eval()
    with torch.inference_mode():
        module(torch.from_numpy(x[:1]))  # warm-up
        seconds = []
        for i in range(len(x)):
            t0 = time.perf_counter()
            module(torch.from_numpy(x[i : i + 1]))
            seconds.append(time.perf_counter() - t0)
    return {"batch": 1, "items": len(x), **_summary(seconds, 1)}


def bench_backend(
    run: Callable[[Any], Any], sample: NDArray[np.float32], batch_sizes: list[int], repeats: int
) -> list[dict[str, Any]]:
    """One row per batch size."""
    return [time_batches(run, tile(sample, b), repeats_for(b, repeats)) for b in batch_sizes]
