"""Bounded load on loopback against a real server: N concurrent uploads, then M concurrent live RTMP streams.

    .venv/bin/python -m benchmarks.load [--uploads 100] [--streams 16] [--stream-seconds 12]

Starts ``framesentry serve`` (embedded mode: API, in-process worker, SQLite, live ingest) as a subprocess on
free loopback ports, and measures:
- uploads: all POSTed at once (one thread each) of a tiny clip (1 s, 160x120, a face, speech); request
  throughput, error rate (anything but 202), request latency p50/p99; then every job to its end: jobs per second,
  failed jobs, queue-to-done latency p50/p99;
- live: M ffmpeg publishers (``-re``, stream copy of one pre-encoded FLV, so encoding costs nothing) and one
  WebSocket reader per stream; streams that went live, score messages, window-close-to-score latency p50/p99,
  windows dropped, publisher errors.
Writes benchmarks/results/load_<machine>.json. Clips are tiny on purpose: it is a load test of the service, not
of the models (their speed is benchmarks/analyze_clip.py and live_streams.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from framesentry.config import Settings

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def make_media(folder: Path, settings: Settings, stream_seconds: float) -> tuple[Path, Path]:
    """The upload clip (MP4) and the live clip (FLV, H.264 + AAC, keyframe a second) with a real face."""
    from framesentry.lab.samples import load_rgb, shared_face_paths, speech_from_librispeech, write_clip

    face = load_rgb(shared_face_paths(settings, "real", split="test", n=1)[0])
    speech = speech_from_librispeech(settings, stream_seconds)
    upload = write_clip(folder / "upload.mp4", duration_s=1.0, size=(160, 120), fps=10,
                        faces=[(face, (40, 10, 90))], audio=speech[:16000])
    live_mp4 = write_clip(folder / "live.mp4", duration_s=stream_seconds, size=(320, 240), fps=15,
                          faces=[(face, (100, 30, 140))], audio=speech)
    live = folder / "live.flv"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(live_mp4), "-c:v", "libx264",
                    "-preset", "ultrafast", "-g", "15", "-c:a", "aac", "-ar", "44100", "-f", "flv", str(live)],
                   check=True)
    return upload, live


def start_server(work: Path, port: int, rtmp_port: int, streams: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAMESENTRY_")}
    env.update({"FRAMESENTRY_WORK_DIR": str(work), "FRAMESENTRY_RTMP_PORT": str(rtmp_port),
                "FRAMESENTRY_LIVE_MAX_STREAMS": str(max(streams, 1) * 2), "FRAMESENTRY_LIVE_ENABLED": "true",
                "PYTHONUNBUFFERED": "1"})
    for name in ("FRAMESENTRY_SHARED_DIR", "FRAMESENTRY_MODELS_DIR"):
        if name in os.environ:
            env[name] = os.environ[name]
    log = (work / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "framesentry", "serve", "--port", str(port)], cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: see {work / 'server.log'}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the server did not answer /v1/health within 180 s")


def run_uploads(base: str, clip: Path, n: int, job_timeout_s: float) -> dict[str, Any]:
    """n uploads at once, then every job to its end."""
    data = clip.read_bytes()
    results: list[tuple[int, float, str | None]] = [(0, 0.0, None)] * n
    barrier = threading.Barrier(n)

    def send(i: int) -> None:
        with httpx.Client(timeout=120) as client:
            barrier.wait()
            t0 = time.perf_counter()
            try:
                res = client.post(f"{base}/v1/analyses", files={"file": (f"load-{i}.mp4", data, "video/mp4")})
                aid = res.json().get("id") if res.status_code == 202 else None
                results[i] = (res.status_code, (time.perf_counter() - t0) * 1000, aid)
            except httpx.HTTPError:
                results[i] = (-1, (time.perf_counter() - t0) * 1000, None)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(n)]
    t_start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    upload_wall = time.perf_counter() - t_start
    accepted = [aid for status, _, aid in results if status == 202 and aid]
    latencies = [ms for status, ms, _ in results if status == 202]

    finished: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + job_timeout_s
    with httpx.Client(base_url=base, timeout=60) as client:
        while len(finished) < len(accepted) and time.monotonic() < deadline:
            for aid in accepted:
                if aid not in finished:
                    body = client.get(f"/v1/analyses/{aid}").json()
                    if body["status"] in ("done", "failed"):
                        finished[aid] = body
            time.sleep(1.0)
    jobs_wall = time.perf_counter() - t_start
    done = [b for b in finished.values() if b["status"] == "done"]
    job_ms = [(datetime.fromisoformat(b["finished_at"]) - datetime.fromisoformat(b["created_at"])).total_seconds()
              * 1000 for b in finished.values()]
    return {
        "uploads": n,
        "accepted": len(accepted),
        "request_errors": n - len(accepted),
        "request_error_rate": round((n - len(accepted)) / n, 4),
        "request_throughput_per_s": round(n / upload_wall, 1),
        "request_latency_ms": {"p50": pct(latencies, 50), "p99": pct(latencies, 99), "max": pct(latencies, 100)},
        "jobs_done": len(done),
        "jobs_failed": len(finished) - len(done),
        "jobs_unfinished_at_timeout": len(accepted) - len(finished),
        "job_error_rate": round(1 - len(done) / n, 4),
        "jobs_per_s": round(len(done) / jobs_wall, 2),
        "job_latency_ms": {"p50": pct(job_ms, 50), "p99": pct(job_ms, 99)},
        "wall_s": round(jobs_wall, 1),
    }


def _read_scores(url: str, out: list[dict[str, Any]], stop: threading.Event) -> None:
    from websockets.sync.client import connect

    try:
        with connect(url, open_timeout=15) as ws:
            while not stop.is_set():
                try:
                    message = json.loads(ws.recv(timeout=0.5))
                except TimeoutError:
                    continue
                out.append(message)
                if message.get("type") in ("end", "error"):
                    return
    except Exception as exc:
        out.append({"type": "reader_error", "error": repr(exc)})


def run_streams(base: str, rtmp_port: int, clip: Path, n: int, seconds: float) -> dict[str, Any]:
    """n RTMP publishers at once, one score reader each."""
    with httpx.Client(base_url=base, timeout=60) as client:
        keys = [client.post("/v1/streams", json={"name": f"load-{i}"}).json() for i in range(n)]
        publishers = [subprocess.Popen(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-i", str(clip), "-c", "copy",
             "-f", "flv", f"rtmp://127.0.0.1:{rtmp_port}/live/{k['key']}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for k in keys]
        stream_ids: dict[int, str] = {}
        deadline = time.monotonic() + 30
        while len(stream_ids) < n and time.monotonic() < deadline:
            for item in client.get("/v1/streams", params={"state": "live", "limit": 100}).json()["items"]:
                stream_ids.setdefault(item["key_id"], item["id"])
            time.sleep(0.2)
        stop = threading.Event()
        messages: dict[str, list[dict[str, Any]]] = {sid: [] for sid in stream_ids.values()}
        ws_base = base.replace("http://", "ws://")
        readers = [threading.Thread(target=_read_scores, args=(f"{ws_base}/v1/streams/{sid}/scores", out, stop),
                                    daemon=True) for sid, out in messages.items()]
        for r in readers:
            r.start()
        peak_live = 0
        while any(p.poll() is None for p in publishers):
            text = client.get("/metrics").text
            for line in text.splitlines():
                if line.startswith('framesentry_live_streams{source="rtmp"}'):
                    peak_live = max(peak_live, int(float(line.split()[-1])))
            time.sleep(0.5)
        publisher_errors = sum(1 for p in publishers if p.wait() != 0)
        for r in readers:
            r.join(30)
        stop.set()
        infos = {sid: client.get(f"/v1/streams/{sid}").json() for sid in stream_ids.values()}
        dropped_metric = next((float(line.split()[-1]) for line in client.get("/metrics").text.splitlines()
                               if line.startswith("framesentry_live_dropped_windows_total ")), None)
    scores = {sid: [m for m in ms if m.get("type") == "score"] for sid, ms in messages.items()}
    latency = [float(m["latency_ms"]) for ms in scores.values() for m in ms]
    scored = sum(int(i.get("windows_scored", 0)) for i in infos.values())
    dropped = sum(int(i.get("windows_dropped", 0)) for i in infos.values())
    failed_streams = n - sum(1 for sid in stream_ids.values() if scores[sid] and infos[sid].get("state") == "ended")
    return {
        "streams": n,
        "went_live": len(stream_ids),
        "peak_live_gauge": peak_live,
        "publisher_errors": publisher_errors,
        "reader_errors": sum(1 for ms in messages.values() for m in ms if m.get("type") == "reader_error"),
        "streams_without_scores_or_clean_end": failed_streams,
        "stream_error_rate": round(failed_streams / n, 4),
        "score_messages": len(latency),
        "score_messages_per_s": round(len(latency) / seconds, 1),
        "latency_ms": {"p50": pct(latency, 50), "p99": pct(latency, 99), "max": pct(latency, 100)},
        "windows_scored": scored,
        "windows_dropped": dropped,
        "dropped_fraction": round(dropped / max(1, scored + dropped), 4),
        "dropped_windows_metric": dropped_metric,
    }


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "os": platform.platform(),
            "note": "shared 2-core machine, other jobs running beside the benchmark"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=100)
    parser.add_argument("--streams", type=int, default=16)
    parser.add_argument("--stream-seconds", type=float, default=12.0)
    parser.add_argument("--job-timeout", type=float, default=600.0)
    parser.add_argument("--out", type=Path, default=RESULTS / "load_cpu.json")
    args = parser.parse_args()
    settings = Settings()
    work = Path(tempfile.mkdtemp(prefix="framesentry-load-"))
    upload_clip, live_clip = make_media(work, settings, args.stream_seconds)
    port, rtmp_port = free_port(), free_port()
    (work / "server").mkdir()
    server = start_server(work / "server", port, rtmp_port, args.streams)
    base = f"http://127.0.0.1:{port}"
    try:
        print(f"server up on {base}; {args.streams} live streams for {args.stream_seconds:g} s ...", flush=True)
        live = run_streams(base, rtmp_port, live_clip, args.streams, args.stream_seconds) if args.streams else None
        print(json.dumps(live, indent=2), flush=True)
        print(f"{args.uploads} concurrent uploads ...", flush=True)
        uploads = run_uploads(base, upload_clip, args.uploads, args.job_timeout) if args.uploads else None
        print(json.dumps(uploads, indent=2), flush=True)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    result = {
        "benchmark": "load",
        "command": "python -m benchmarks.load " + " ".join(sys.argv[1:]),
        "mode": "embedded (one serve process: API, in-process worker, SQLite, live ingest), loopback",
        "machine": machine(),
        "clips": {"upload": "1 s 160x120 10 fps H.264/AAC MP4, one real face, speech",
                  "live": f"{args.stream_seconds:g} s 320x240 15 fps H.264/AAC FLV, one real face, speech"},
        "live": live,
        "uploads": uploads,
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
