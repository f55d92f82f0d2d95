"""Live benchmark: N concurrent 720p30 streams through the real live path, against a naive per-frame pipeline.

Each stream is a thread that decodes a generated clip (faces + speech) with PyAV at real-time pace, as an
RTMP ingest would, and pushes frames into a ``LiveSession`` on the process's ``BatchedScorer`` (cross-stream
batching, bounded hand-off). Measured: window-close-to-score latency (p50/p95/p99), dropped-window rate and
scored windows per second. The network hop is left out on purpose (it is the same for both pipelines).

The naive baseline scores every decoded frame inline, one at a time, with no batching and no dropping:
its latency is how far behind real time each frame's score comes out.
"""

from __future__ import annotations

import contextlib
import os
import platform
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from framesentry.config import Settings
from framesentry.inference.detectors import Detectors

if TYPE_CHECKING:
    from framesentry.inference.batching import BatchedScorer
    from framesentry.inference.scoring import ScoringCore
    from framesentry.jobs.context import Analyzer

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


class _UploadLoop:
    """Analyses a long file again and again with ``analyzer`` (the server's embedded-worker analyser), until
    stopped: the concurrent upload the live numbers are measured
    beside."""

    def __init__(self, settings: Settings, analyzer: Analyzer, clip: Path) -> None:
        from framesentry.media import probe

        self.settings, self.analyzer, self.clip = settings, analyzer, clip
        self.stop = threading.Event()
        self.media_s = 0.0
        self.fraction = 0.0  # of the analysis in progress, by the pipeline's stages (visual, then audio)
        self.duration_s = probe(clip, settings).duration_s or 0.0
        self.thread = threading.Thread(target=self._run, name="upload-job", daemon=True)

    def _progress(self, stage: str, fraction: float) -> None:
        if self.stop.is_set():
            raise _Stopped
        self.fraction = 0.5 * fraction + (0.5 if stage == "audio" else 0.0)

    def _run(self) -> None:
        # No priority change here: PipelineAnalyzer lowers its calling thread itself (jobs/context.py), as on a
        # server; a second call here lowered it twice.
        while not self.stop.is_set():
            try:
                result = self.analyzer(self.clip, self._progress)
            except _Stopped:
                return
            self.media_s += result.media.duration_s
            self.fraction = 0.0

    def __enter__(self) -> _UploadLoop:
        self.started = time.perf_counter()
        self.thread.start()
        time.sleep(1.0)  # the upload is already running when the first live frame arrives
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.elapsed_s = time.perf_counter() - self.started


class _Stopped(Exception):
    pass


def run_ours(settings: Settings, scorer: BatchedScorer, clip: Path, streams: int, seconds: float,
             upload: tuple[Path, Analyzer] | None = None) -> dict[str, Any]:
    """The product's live path: sessions on the shared scorer's live lane (cross-stream batching); with
    ``upload``, a long file is analysed at the same time as the server would (``_UploadLoop``)."""
    from framesentry.stream.messages import ScoreMessage
    from framesentry.stream.session import LiveSession

    latencies: list[float] = []
    lock = threading.Lock()

    def emit(_s: LiveSession, message: ScoreMessage) -> None:
        with lock:
            latencies.append(message.latency_ms)

    sessions: list[LiveSession] = []
    stop = threading.Event()

    def feed(session: LiveSession, delay_s: float) -> None:
        for _t, frame in _paced_frames(clip, seconds, stop, delay_s):
            if hasattr(frame, "sample_rate"):
                session.push_audio(frame)
            else:
                session.push_video(frame)

    before = scorer.stats()
    uploading = _UploadLoop(settings, upload[1], upload[0]) if upload is not None else None
    with uploading or contextlib.nullcontext():
        # Sessions open when their publishers start, as on a server: a session's clock starts at its opening,
        # and one opened a second before its first frame puts every stream's sampling instants on the same
        # grid, undoing the stagger (that artefact once doubled this benchmark's p50 beside an upload).
        sessions.extend(LiveSession(settings, scorer, stream_id=uuid.uuid4(), key_id=None, source="rtmp", emit=emit,
                                    on_close=lambda *_: None) for _ in range(streams))
        fed_s = _run_streams(settings, streams, lambda i, delay: feed(sessions[i], delay))
        time.sleep(1.0)  # let the last windows finish
    after = scorer.stats()
    offered = sum(s.visual.accepted + s.audio.accepted for s in sessions)
    dropped = sum(s.totals()["windows_dropped"] for s in sessions)
    row: dict[str, Any] = {
        "streams": streams,
        "seconds": round(fed_s, 2),
        "windows_offered": offered,
        "windows_scored": len(latencies),
        "dropped_rate": round(dropped / offered, 4) if offered else 0.0,
        "scored_per_s": round(len(latencies) / fed_s, 2),
        "realtime": fed_s <= seconds * 1.1,
        "latency": percentiles(latencies),
        "samples_ms": latencies,
        "batches": {k: {key: after[k][key] - before[k].get(key, 0) for key in ("batches", "items_live", "items_bulk")}
                    for k in after},
    }
    if uploading is not None:
        # Media seconds analysed while live ran: whole analyses, plus the stage-weighted share of the one cut short.
        done_s = uploading.media_s + uploading.fraction * uploading.duration_s
        row["upload"] = {"media_s_analysed": round(done_s, 1), "wall_s": round(uploading.elapsed_s, 1)}
    return row


def pool_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs of ``run_ours`` as one: counts added up, latency percentiles over every sample (a p99 of one
    10 s run rests on its one or two slowest windows)."""
    samples = [x for r in runs for x in r.pop("samples_ms")]
    seconds = sum(r["seconds"] for r in runs)
    offered = sum(r["windows_offered"] for r in runs)
    dropped = sum(r["dropped_rate"] * r["windows_offered"] for r in runs)
    pooled: dict[str, Any] = {
        "streams": runs[0]["streams"], "runs": len(runs), "seconds": round(seconds, 2), "windows_offered": offered,
        "windows_scored": len(samples), "dropped_rate": round(dropped / offered, 4) if offered else 0.0,
        "scored_per_s": round(len(samples) / seconds, 2), "realtime": all(r["realtime"] for r in runs),
        "latency": percentiles(samples), "p99_ms_per_run": [r["latency"]["p99_ms"] for r in runs],
        "batches": {k: {key: sum(r["batches"][k][key] for r in runs) for key in runs[0]["batches"][k]}
                    for k in runs[0]["batches"]},
    }
    if "upload" in runs[0]:
        pooled["upload"] = {key: round(sum(r["upload"][key] for r in runs), 1) for key in runs[0]["upload"]}
    return pooled


def run_naive(settings: Settings, core: ScoringCore, clip: Path, streams: int, seconds: float) -> dict[str, Any]:
    """Every decoded video frame scored inline at batch 1 by the scoring core; no batching, no dropping."""
    from framesentry.inference.scoring import FrameJob

    latencies: list[float] = []
    lock = threading.Lock()
    stop = threading.Event()

    def feed(delay_s: float) -> None:
        start = time.perf_counter() + delay_s
        for t, frame in _paced_frames(clip, seconds, stop, delay_s):
            if hasattr(frame, "sample_rate"):
                continue
            core.score_frames([FrameJob(t, frame.to_ndarray(format="rgb24"), settings.live_face_min_size_px)])
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


def run_live_bench(settings: Settings, streams: list[int], seconds: float, with_upload: bool = False,
                   repeats: int = 1, upload_in_process: bool = False) -> dict[str, Any]:
    """Both pipelines for each stream count, in one process, one after the other; with ``with_upload``, the
    live path also runs beside a long upload (the 60 s analyse-clip benchmark file, looped) analysed as the
    server does (``jobs.isolation``), and with ``upload_in_process`` also as it did before (in this process on
    the bulk lane). Live runs alone and beside the upload alternate ``repeats`` times; latencies are pooled."""
    from framesentry.inference.batching import BatchedScorer
    from framesentry.jobs.isolation import IsolatedAnalyzer, upload_analyzer
    from framesentry.lab.samples import make_benchmark_clip

    if seconds > CLIP_S:
        raise ValueError(f"at most {CLIP_S:.0f} s per run")
    detectors = Detectors(settings)
    clip = make_clip(settings, settings.work_dir / "bench")
    upload = (make_benchmark_clip(settings, settings.work_dir / "bench" / "clip_60s_720p30.mp4", duration_s=60.0)
              if with_upload else None)
    rows = []
    load_before = round(os.getloadavg()[0], 2)  # another process on these cores shows up here, not as our latency
    with BatchedScorer(detectors) as scorer:
        scorer.warm_up()
        uploads: dict[str, Analyzer] = {}
        if upload is not None:
            uploads["framesentry_with_upload"] = upload_analyzer(settings, scorer, beside_live=True)
            if upload_in_process:
                uploads["framesentry_with_upload_in_process"] = upload_analyzer(settings, scorer, beside_live=False)
        for analyzer in uploads.values():
            if isinstance(analyzer, IsolatedAnalyzer):
                analyzer.start()  # as a server does at start-up: its models load before uploads come
        try:
            for n in streams:
                runs: dict[str, list[dict[str, Any]]] = {"framesentry": [], **{name: [] for name in uploads}}
                for _ in range(repeats):
                    runs["framesentry"].append(run_ours(settings, scorer, clip, n, seconds))
                    for name, analyzer in uploads.items():
                        assert upload is not None
                        runs[name].append(run_ours(settings, scorer, clip, n, seconds, upload=(upload, analyzer)))
                row: dict[str, Any] = {"streams": n, **{name: pool_runs(r) for name, r in runs.items()}}
                p99 = row["framesentry"]["latency"]["p99_ms"]
                for name in uploads:
                    p99_up = row[name]["latency"]["p99_ms"]
                    row[name.replace("framesentry_with_upload", "p99_change_with_upload")] = (
                        round(p99_up / p99 - 1, 3) if p99 and p99_up else None)
                row["naive_per_frame"] = run_naive(settings, scorer.core, clip, n, min(seconds, 4.0))
                row["load_average_1m_after"] = round(os.getloadavg()[0], 2)
                rows.append(row)
        finally:
            for analyzer in uploads.values():
                if isinstance(analyzer, IsolatedAnalyzer):
                    analyzer.close()
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
        "repeats": repeats,
        "upload_analysed": "in a child process at bulk_nice (jobs/isolation.py), as the embedded server does"
        if with_upload else None,
        "load_average_1m_before": load_before,
        "engines": detectors.engines(),
        "rows": rows,
        "goal": "4 concurrent streams in real time with p99 <= 250 ms on the CPU; with a long upload running, "
                "live p99 no more than 20 % worse",
    }
