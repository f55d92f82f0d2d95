"""Live benchmark: N concurrent 720p30 streams through the real live path, against a naive per-frame pipeline.

Each stream is a thread that decodes a generated clip (faces + speech) with PyAV at real-time pace, as an
RTMP ingest would, and pushes frames into a ``LiveSession`` sharing one ``LiveScorer`` (cross-stream
batching, bounded hand-off). Measured: window-close-to-score latency (p50/p95/p99), dropped-window rate and
scored windows per second. The network hop is left out on purpose (it is the same for both pipelines).

The naive baseline scores every decoded frame inline, one at a time, with no batching and no dropping:
its latency is how far behind real time each frame's score comes out.
"""

from __future__ import annotations

import os
import platform
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from framesentry.config import Settings
from framesentry.inference.detectors import Detectors

CLIP_S = 12.0  # the longest run; a run of ``seconds`` plays the first ``seconds`` of it


def make_clip(settings: Settings, folder: Path) -> Path:
    """The analyse-clip benchmark's 720p30 input (two faces, speech), cut to ``CLIP_S`` seconds; made once."""
    from framesentry.lab.samples import make_benchmark_clip

    return make_benchmark_clip(settings, folder / f"live_bench_720p30_{CLIP_S:.0f}s.mp4", duration_s=CLIP_S)


def _paced_frames(clip: Path, seconds: float, stop: threading.Event, delay_s: float = 0.0
                  ) -> Iterator[tuple[float, Any]]:
    """Decoded video and audio frames of the clip, released at real-time pace (as a live ingest sees them),
    starting ``delay_s`` from now."""
    import av

    start = time.perf_counter() + delay_s
    with av.open(str(clip)) as container:
        for frame in container.decode(container.streams.video[0], container.streams.audio[0]):
            t = float(getattr(frame, "time", None) or 0.0)
            if t >= seconds or stop.is_set():
                return
            delay = start + t - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            yield t, frame


def stagger(settings: Settings, index: int, streams: int) -> float:
    """Start offset of stream ``index``: independent streams do not start on the same frame, so their sampling
    instants are spread over one sampling period instead of all landing in the same batch."""
    return index / streams / settings.live_visual_fps


def _run_streams(settings: Settings, streams: int, feed: Callable[[int, float], None]) -> float:
    """Run ``feed(index, start_delay_s)`` for every stream on its own thread; seconds fed (stagger excluded)."""
    threads = [threading.Thread(target=feed, args=(i, stagger(settings, i, streams)), daemon=True)
               for i in range(streams)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0 - stagger(settings, streams - 1, streams)


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    arr = np.asarray(values)
    out: dict[str, float | None] = {f"p{q}_ms": round(float(np.percentile(arr, q)), 1) for q in (50, 95, 99)}
    out["max_ms"] = round(float(arr.max()), 1)
    return out


def run_ours(settings: Settings, detectors: Detectors, clip: Path, streams: int, seconds: float) -> dict[str, Any]:
    """The product's live path: sessions + shared scorer with cross-stream batching."""
    from framesentry.stream.scorer import LiveScorer
    from framesentry.stream.session import LiveSession

    scorer = LiveScorer(settings, detectors)
    scorer.start()
    latencies: list[float] = []
    lock = threading.Lock()

    def emit(_s: LiveSession, message: dict[str, Any]) -> None:
        with lock:
            latencies.append(float(message["latency_ms"]))

    sessions = [
        LiveSession(settings, scorer, stream_id=uuid.uuid4(), key_id=None, source="rtmp", emit=emit,
                    on_close=lambda *_: None)
        for _ in range(streams)
    ]
    stop = threading.Event()

    def feed(session: LiveSession, delay_s: float) -> None:
        for _t, frame in _paced_frames(clip, seconds, stop, delay_s):
            if hasattr(frame, "sample_rate"):
                session.push_audio(frame)
            else:
                session.push_video(frame)

    fed_s = _run_streams(settings, streams, lambda i, delay: feed(sessions[i], delay))
    time.sleep(1.0)  # let the last windows finish
    stats = scorer.stats()
    scorer.stop()
    offered = sum(s.visual.accepted + s.audio.accepted for s in sessions)
    dropped = sum(s.totals()["windows_dropped"] for s in sessions)
    return {
        "streams": streams,
        "seconds": round(fed_s, 2),
        "windows_offered": offered,
        "windows_scored": len(latencies),
        "dropped_rate": round(dropped / offered, 4) if offered else 0.0,
        "scored_per_s": round(len(latencies) / fed_s, 2),
        "realtime": fed_s <= seconds * 1.1,
        "latency": percentiles(latencies),
        "batches": {k: {"mean_batch": v.get("mean_batch"), "batches": v.get("batches")} for k, v in stats.items()},
    }


def run_naive(settings: Settings, detectors: Detectors, clip: Path, streams: int, seconds: float) -> dict[str, Any]:
    """Every decoded video frame scored inline at batch 1 (faces, crop, model); no batching, no dropping."""
    from framesentry.inference.faces import crop_face

    latencies: list[float] = []
    lock = threading.Lock()
    stop = threading.Event()

    def feed(delay_s: float) -> None:
        start = time.perf_counter() + delay_s
        for t, frame in _paced_frames(clip, seconds, stop, delay_s):
            if hasattr(frame, "sample_rate"):
                continue
            rgb = frame.to_ndarray(format="rgb24")
            boxes = detectors.faces.detect(rgb)
            for box in boxes:
                detectors.visual.predict(crop_face(rgb, box, settings)[None])
            with lock:
                latencies.append((time.perf_counter() - (start + t)) * 1000.0)

    fed_s = _run_streams(settings, streams, lambda _i, delay: feed(delay))
    return {
        "streams": streams,
        "seconds": round(fed_s, 2),
        "frames_scored": len(latencies),
        "scored_per_s": round(len(latencies) / fed_s, 2),
        "realtime": fed_s <= seconds * 1.1,
        "latency": percentiles(latencies),
    }


def device_name(settings: Settings) -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    threads = settings.torch_threads or torch.get_num_threads()
    return f"cpu: {platform.machine()}, {os.cpu_count()} cores, torch threads {threads}"


def run_live_bench(settings: Settings, streams: list[int], seconds: float) -> dict[str, Any]:
    """Both pipelines for each stream count, in one process, one after the other."""
    if seconds > CLIP_S:
        raise ValueError(f"at most {CLIP_S:.0f} s per run")
    detectors = Detectors(settings)
    clip = make_clip(settings, settings.work_dir / "bench")
    from framesentry.stream.scorer import LiveScorer

    LiveScorer(settings, detectors).warm_up()
    rows = []
    load_before = round(os.getloadavg()[0], 2)  # another process on these cores shows up here, not as our latency
    for n in streams:
        ours = run_ours(settings, detectors, clip, n, seconds)
        naive = run_naive(settings, detectors, clip, n, min(seconds, 4.0))
        rows.append({"streams": n, "framesentry": ours, "naive_per_frame": naive,
                     "load_average_1m_after": round(os.getloadavg()[0], 2)})
    return {
        "benchmark": "live_streams",
        "device": device_name(settings),
        "clip": {"width": 1280, "height": 720, "fps": 30, "faces": 2, "speech": True},
        "streams_start": "staggered evenly over one visual sampling period (independent publishers)",
        "settings": {"live_visual_fps": settings.live_visual_fps,
                     "live_face_min_size_px": settings.live_face_min_size_px,
                     "live_audio_stride_s": settings.live_audio_stride_s,
                     "live_batch_max": settings.live_batch_max, "live_batch_wait_ms": settings.live_batch_wait_ms,
                     "live_max_inflight": settings.live_max_inflight},
        "seconds_per_run": seconds,
        "load_average_1m_before": load_before,
        "engines": detectors.engines(),
        "rows": rows,
        "goal": "4 concurrent streams in real time with p99 <= 250 ms on the CPU",
    }
