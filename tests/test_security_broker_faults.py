"""Finding 5: broker and database faults answer fast and lose nothing.

Proves, against real services: a broker that accepts connections but never answers gives 503 + Retry-After in
seconds (not a hung upload); a private ``redis-server`` (own port, own data directory; the machine's shared
Redis is never touched) stopped and restarted: 503 and an unready readiness probe while it is down, and queued
jobs, including one whose message Redis lost, run once it is back (the sweeper re-publishes them);
PostgreSQL unreachable (a closed port): health says so, readiness and requests answer 503, never 500; a job
committed but never published (the API died in between) is sent by the sweeper.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from service_helpers import (
    ANALYSES_WORKER_READY,
    Proc,
    RedisSpace,
    finished,
    free_port,
    poll_until,
    running_api,
    service_env,
    upload,
    wait_for,
    wait_ready,
)

from framesentry.api.app import create_app
from framesentry.config import Settings
from framesentry.store.db import Database
from framesentry.store.models import Analysis, utcnow

pytest_plugins = ["conftest_service"]
pytestmark = pytest.mark.slow


@contextmanager
def black_hole() -> Iterator[int]:
    """A TCP port that accepts connections and reads forever without ever answering."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        server.close()


def test_silent_broker_gives_503_with_retry_after(tmp_path: Path, clip_faces_speech: Path) -> None:
    with black_hole() as port:
        settings = Settings(work_dir=tmp_path, broker_url=f"redis://127.0.0.1:{port}/0", live_enabled=False)
        with running_api(create_app(settings, run_worker=False)) as base, httpx.Client(base_url=base) as c:
            started = time.monotonic()
            with clip_faces_speech.open("rb") as fh:
                response = c.post("/v1/analyses", files={"file": ("a.mp4", fh, "video/mp4")}, timeout=60)
            took = time.monotonic() - started
            assert response.status_code == 503, response.text
            assert int(response.headers["retry-after"]) >= 1 and took < 30, took
            assert c.get("/v1/analyses", timeout=60).json()["total"] == 0  # nothing kept
            ready = c.get("/v1/ready", timeout=60)
            assert ready.status_code == 503 and ready.json()["error"]["details"]["broker"] == "unreachable"


class PrivateRedis:
    """A ``redis-server`` of our own on a free port (append-only file in ``data``), stopped and started at will."""

    def __init__(self, data: Path) -> None:
        self.port = free_port()
        self.data = data
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data),
             "--appendonly", "yes", "--save", "", "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, 20, "private redis-server")

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def stop(self, *, lose_data: bool = False) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(20)
            self.proc = None
        if lose_data:
            shutil.rmtree(self.data, ignore_errors=True)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis-data")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_redis_stopped_and_restarted(tmp_path: Path, pg_url: str, private_redis: PrivateRedis,
                                     clip_faces_speech: Path, spawn: Callable[..., Proc]) -> None:
    service: dict[str, Any] = {
        "work_dir": tmp_path / "work", "database_url": pg_url, "broker_url": private_redis.url,
        "queue_name": f"fault-{uuid.uuid4().hex[:6]}", "job_heartbeat_s": 1.0, "torch_threads": 1,
        "sweep_interval_s": 1.0, "queued_stale_s": 5.0, "live_enabled": False,
    }
    app = create_app(Settings(**service), run_worker=False)
    with running_api(app) as base, httpx.Client(base_url=base, timeout=60) as c:
        worker = spawn(["worker", "--concurrency", "1"], service_env(**service), "worker")
        wait_ready(worker, ANALYSES_WORKER_READY, timeout_s=120)
        first = upload(c, clip_faces_speech).json()["id"]
        assert poll_until(c, first, finished, 240)["status"] == "done"

        private_redis.stop()
        down = upload(c, clip_faces_speech)
        assert down.status_code == 503 and int(down.headers["retry-after"]) >= 1, down.text
        assert c.get("/v1/ready").status_code == 503
        health = c.get("/v1/health").json()
        assert health["status"] == "degraded" and health["checks"]["broker"] == "unreachable"

        private_redis.start()
        wait_for(lambda: c.get("/v1/ready").status_code == 200, 30, "readiness after the restart")
        after = upload(c, clip_faces_speech)
        assert after.status_code == 202, after.text
        assert poll_until(c, after.json()["id"], finished, 240)["status"] == "done"

        # A queued job whose message Redis loses (restarted without its data): the sweeper sends it again.
        worker.stop()
        lost = upload(c, clip_faces_speech).json()["id"]
        private_redis.stop(lose_data=True)
        private_redis.start()
        worker = spawn(["worker", "--concurrency", "1"], service_env(**service), "worker")
        wait_ready(worker, ANALYSES_WORKER_READY, timeout_s=120)
        assert poll_until(c, lost, finished, 240)["status"] == "done"


def test_postgres_unreachable_is_503_not_500(tmp_path: Path, clip_faces_speech: Path) -> None:
    closed = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"
    settings = Settings(work_dir=tmp_path, database_url=closed, live_enabled=False)
    with running_api(create_app(settings, run_worker=False)) as base, httpx.Client(base_url=base, timeout=60) as c:
        health = c.get("/v1/health")
        assert health.status_code == 200 and health.json()["checks"]["database"] == "unreachable"
        ready = c.get("/v1/ready")
        assert ready.status_code == 503 and ready.json()["error"]["details"]["database"] == "unreachable"
        for response in (c.get("/v1/analyses"), upload(c, clip_faces_speech)):
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "service_unavailable" and response.headers["retry-after"]


def test_sweeper_sends_a_job_that_was_never_published(tmp_path: Path, pg_url: str, redis_space: RedisSpace,
                                                      clip_faces_speech: Path) -> None:
    """The API committed the row and died before publishing: ``enqueued_at`` is empty; the sweeper sends it."""
    from framesentry.jobs.app import create_celery
    from framesentry.jobs.recovery import sweep

    settings = Settings(work_dir=tmp_path, database_url=pg_url, broker_url=redis_space.url,
                        broker_key_prefix=redis_space.prefix, queue_name=redis_space.queue, live_enabled=False)
    with running_api(create_app(settings, run_worker=False)) as base, httpx.Client(base_url=base) as c:
        aid = uuid.UUID(upload(c, clip_faces_speech).json()["id"])
    db = Database(pg_url)
    with db.transaction() as session:
        row = session.get_one(Analysis, aid)
        assert row.enqueued_at is not None  # published: the outbox marker is set
        row.enqueued_at = None
        row.created_at = utcnow() - timedelta(minutes=2)
    queue = redis.Redis.from_url(redis_space.url)
    key = f"{redis_space.prefix}{redis_space.queue}"
    queue.delete(key)
    assert sweep(create_celery(settings)).unpublished >= 1
    assert str(aid) in " ".join(m.decode() for m in queue.lrange(key, 0, -1))
    with db.session() as session:
        assert session.get_one(Analysis, aid).enqueued_at is not None
    queue.delete(key)
    queue.close()
    db.engine.dispose()
