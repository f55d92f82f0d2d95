"""Helpers for the service tests (plain functions; the fixtures live in ``conftest_service.py``)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from framesentry.inference.pipeline import ProgressCallback
from framesentry.inference.result import AnalysisResult, MediaSummary, ModalityScore, Segment
from framesentry.inference.verdict import decide

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.1) -> Any:
    """Poll until ``predicate`` returns something truthy; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


@dataclass(frozen=True)
class RedisSpace:
    """A Redis database number plus a key prefix and queue name nobody else uses."""

    url: str
    prefix: str
    queue: str


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """A real HTTP server on loopback that records POSTs; the first ``fail_first`` get HTTP 500."""

    url: str
    received: list[Received] = field(default_factory=list)
    fail_first: int = 0
    answered: int = 0

    def wait(self, n: int, timeout_s: float = 30.0) -> list[Received]:
        wait_for(lambda: len(self.received) >= n, timeout_s, f"{n} webhook request(s)")
        return self.received


@contextlib.contextmanager
def running_api(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn as ``framesentry serve`` does, on a free loopback port (lifespan included);
    yields the base URL."""
    import uvicorn

    from framesentry.api.server import uvicorn_config

    port = free_port()
    server = uvicorn.Server(uvicorn_config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), 60, "uvicorn to start")
    assert server.started, "uvicorn did not start (see the log above)"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(60)


INPUT_VARIABLES = ("FRAMESENTRY_MODELS_DIR", "FRAMESENTRY_SHARED_DIR")
"""Where read-only inputs live: passed through to child processes; every other FRAMESENTRY_* is not."""


def service_env(**values: Any) -> dict[str, str]:
    """This environment without FRAMESENTRY_* settings (input locations kept), plus ``values`` as FRAMESENTRY_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAMESENTRY_") or k in INPUT_VARIABLES}
    env.update({f"FRAMESENTRY_{k.upper()}": str(v) for k, v in values.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Proc:
    """A child process in its own process group, output captured to a log file."""

    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)
        self.popen.wait(30)

    def stop(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.kill_group()


ANALYSES_WORKER_READY = re.compile(r"framesentry-\d+@\S+ ready\.")
"""``framesentry worker``'s own Celery worker is up (its webhook and deep-pass processes print " ready." too)."""


def wait_ready(proc: Proc, marker: str | re.Pattern[str], timeout_s: float = 60.0) -> None:
    def ready() -> bool:
        if proc.popen.poll() is not None:
            raise AssertionError(f"process exited early ({proc.popen.returncode}):\n{proc.output()[-3000:]}")
        out = proc.output()
        return bool(marker.search(out)) if isinstance(marker, re.Pattern) else marker in out

    try:
        wait_for(ready, timeout_s, f"{marker!r} in {proc.log.name}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- {proc.log.name} ---\n{proc.output()[-3000:]}") from None


def upload(client: httpx.Client, path: Path, *, callback_url: str | None = None,
           idempotency_key: str | None = None, content_type: str = "video/mp4") -> httpx.Response:
    data = {"callback_url": callback_url} if callback_url else None
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    with path.open("rb") as fh:
        return client.post("/v1/analyses", files={"file": (path.name, fh, content_type)}, data=data,
                           headers=headers)


def poll_until(client: httpx.Client, analysis_id: str, done: Callable[[dict[str, Any]], bool],
               timeout_s: float, seen: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """GET the analysis until ``done(body)``; every body is appended to ``seen``."""

    def check() -> dict[str, Any] | None:
        response = client.get(f"/v1/analyses/{analysis_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if seen is not None:
            seen.append(body)
        return body if done(body) else None

    result: dict[str, Any] = wait_for(check, timeout_s, f"analysis {analysis_id}", interval_s=0.2)
    return result


def finished(body: dict[str, Any]) -> bool:
    return body["status"] in ("done", "failed")


def verify_webhook(received: Received, secret: str) -> dict[str, Any]:
    """Check the HMAC signature like a receiver would; return the parsed payload."""
    from framesentry.jobs.webhooks import SIGNATURE_HEADER, verify

    assert verify(secret, received.body, received.headers[SIGNATURE_HEADER.lower()]), "bad webhook signature"
    payload: dict[str, Any] = json.loads(received.body)
    return payload


class ScriptedAnalyzer:
    """Reports progress over ``steps`` x ``step_s``; raises the queued ``faults`` first, one per call."""

    def __init__(self, steps: int = 4, step_s: float = 0.15, faults: list[Exception] | None = None) -> None:
        self.steps, self.step_s = steps, step_s
        self.faults = list(faults or [])
        self.calls: list[float] = []

    def __call__(self, path: Path, progress: ProgressCallback) -> AnalysisResult:
        from framesentry.media import probe

        self.calls.append(time.monotonic())
        if self.faults:
            raise self.faults.pop(0)
        info = probe(path)
        for i in range(self.steps):
            progress("visual", i / self.steps)
            time.sleep(self.step_s)
        progress("audio", 1.0)
        p_fake = 0.82
        verdict, confidence = decide(p_fake, real_threshold=0.3, fake_threshold=0.7)
        segments = [Segment(start_s=s, end_s=s + 2.0, p_fake=p_fake, audio_p_fake=p_fake if s < 4 else None)
                    for s in (0.0, 2.0, 4.0)]
        return AnalysisResult(
            verdict=verdict, p_fake=p_fake, confidence=confidence, thresholds={"real": 0.3, "fake": 0.7},
            visual=ModalityScore(status="no_face"), audio=ModalityScore(status="ok", p_fake=p_fake, windows_scored=2),
            faces=[], segments=segments, frames=[], audio_windows=[], suspicious_segments=segments[:1],
            media=MediaSummary(path=str(path), container=info.container_format, duration_s=info.duration_s or 0.0,
                               size_bytes=info.size_bytes, has_video=info.has_video, has_audio=info.has_audio),
            timing_s={"total": 0.1}, models={"audio": "scripted"},
        )
