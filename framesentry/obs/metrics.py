"""The process's Prometheus metrics, created on first use.

Created lazily (not at import) because ``prometheus_client`` chooses between in-memory and multiprocess values
when it is first imported: ``framesentry worker`` sets ``PROMETHEUS_MULTIPROC_DIR`` before that, so its prefork
pool children write their samples to files its own metrics port adds up (see ``obs.worker_metrics``).
Gauges that are read at scrape time (queue depth, live streams) are not here: the API computes them per scrape.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
JOB_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
MODEL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True)
class Metrics:
    request_seconds: Any
    job_seconds: Any
    model_batch_seconds: Any
    model_batch_items: Any
    dropped_windows: Any
    gpu_memory_bytes: Any


@cache
def metrics() -> Metrics:
    """The metric objects of this process (registered once in the default registry)."""
    from prometheus_client import Counter, Gauge, Histogram

    return Metrics(
        request_seconds=Histogram(
            "framesentry_http_request_duration_seconds", "HTTP request latency by route template.",
            ["method", "route", "status"], buckets=REQUEST_BUCKETS,
        ),
        job_seconds=Histogram(
            "framesentry_job_duration_seconds", "Wall time of one analysis job run, by outcome.",
            ["outcome"], buckets=JOB_BUCKETS,
        ),
        model_batch_seconds=Histogram(
            "framesentry_model_batch_seconds", "Model (engine forward) time per batch.", ["model"],
            buckets=MODEL_BUCKETS,
        ),
        model_batch_items=Histogram(
            "framesentry_model_batch_items", "Items per model batch.", ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
        ),
        dropped_windows=Counter(
            "framesentry_live_dropped_windows", "Live windows dropped because detection fell behind.",
        ),
        gpu_memory_bytes=Gauge(
            "framesentry_gpu_memory_bytes", "CUDA memory held by this process's torch allocator.",
            ["device", "kind"], multiprocess_mode="livesum",
        ),
    )


def observe_batch(model: str, items: int, seconds: float) -> None:
    """Record one model batch: its wall time and its size."""
    m = metrics()
    m.model_batch_seconds.labels(model).observe(seconds)
    m.model_batch_items.labels(model).observe(items)


@contextmanager
def timed_batch(model: str, items: int) -> Iterator[None]:
    """Observe one model batch's wall time (also when it raises)."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        observe_batch(model, items, time.perf_counter() - t0)


def record_gpu_memory() -> None:
    """Set the GPU memory gauge from torch, only where torch is already loaded and CUDA initialised (a scrape
    never imports torch nor initialises CUDA)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return
    gauge = metrics().gpu_memory_bytes
    for index in range(torch.cuda.device_count()):
        device = f"cuda:{index}"
        gauge.labels(device, "allocated").set(torch.cuda.memory_allocated(index))
        gauge.labels(device, "reserved").set(torch.cuda.memory_reserved(index))
