"""Fixtures for the service tests (API, jobs, store): real PostgreSQL and Redis, real processes.

Loaded by the service test modules with ``pytest_plugins = ["conftest_service"]``. Every session gets its own
PostgreSQL database and its own Redis key prefix and queue, and removes them afterwards; media fixtures come
from ``tests/conftest.py`` plus one longer clip made here. Plain helpers are in ``service_helpers.py``.
"""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from service_helpers import REPO, Proc, Received, RedisSpace, WebhookReceiver, free_port

from framesentry.config import Settings
from framesentry.store.db import Database
from framesentry.store.migrate import upgrade

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this session (dropped at the end)."""
    import psycopg

    name = f"fs_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A migrated database per test module, once on SQLite (embedded mode) and once on the real PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'store.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    database = Database(url)
    upgrade(database.engine)
    yield database
    database.engine.dispose()


@pytest.fixture
def new_pg_database() -> Iterator[Callable[[], str]]:
    """Make fresh, empty PostgreSQL databases on demand (for tests that migrate down); all dropped after."""
    import psycopg

    names: list[str] = []

    def make() -> str:
        name = f"fs_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        names.append(name)
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"

    try:
        yield make
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_space() -> Iterator[RedisSpace]:
    """A Redis db number, key prefix and queue for this session; its keys are deleted at the end."""
    import redis

    tag = uuid.uuid4().hex[:10]
    db = 1 + int(tag, 16) % 15
    space = RedisSpace(url=f"{REDIS_URL}/{db}", prefix=f"fstest-{tag}:", queue=f"fstest-{tag}")
    client = redis.Redis.from_url(space.url)
    client.ping()
    try:
        yield space
    finally:
        keys = list(client.scan_iter(match=f"{space.prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture(scope="session")
def long_clip(media_dir: Path, real_faces: list[np.ndarray], settings: Settings) -> Path:
    """40 s 640x360 MP4 with a face and real speech: a job long enough to kill a worker in the middle of. (At 8 s a
    fast 2-core machine finished it in 3 s, before a test could see it running: the worker-kill tests timed out.)"""
    from framesentry.lab.samples import speech_from_librispeech, write_clip

    speech = speech_from_librispeech(settings, 40.0)
    return write_clip(
        media_dir / "long_interview.mp4", duration_s=40.0, size=(640, 360), fps=25,
        faces=[(real_faces[0], (240, 70, 170))], audio=speech, seed=7,
    )


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A loopback HTTP server that records webhook POSTs."""
    port = free_port()
    receiver = WebhookReceiver(url=f"http://127.0.0.1:{port}/hooks/framesentry")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.answered += 1
            self.send_response(500 if receiver.answered <= receiver.fail_first else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))

        def log_message(self, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[[list[str], dict[str, str], str], Proc]]:
    """Start ``framesentry <args>`` subprocesses (own process group each); all are stopped at the end."""
    procs: list[Proc] = []

    def start(args: list[str], env: dict[str, str], name: str) -> Proc:
        log = tmp_path / f"{name}-{len(procs)}.log"
        with log.open("wb") as fh:
            popen = subprocess.Popen(
                [sys.executable, "-m", "framesentry", *args], cwd=REPO, env=env, stdout=fh,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        proc = Proc(popen, log)
        procs.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in procs:
            proc.stop()
