"""Which workers are alive: each worker process keeps a short-lived key in the broker's Redis while it runs.

A job's lease names the worker process that holds it (``<worker id>|<process>:<nonce>``). A worker killed with
SIGKILL stops refreshing its key, which expires after ``worker_presence_ttl_s``; the sweeper of any other
worker then sees the lease's worker gone and hands the job back at once, instead of waiting for the job
heartbeat to go stale or for Redis's visibility timeout (job limit + 5 minutes).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from typing import Any

from framesentry.config import Settings

log = logging.getLogger(__name__)
SEPARATOR = "|"


def new_worker_id() -> str:
    """Unique per worker process start (a restarted worker with the same pid is a new worker)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def worker_of(lease: str) -> str | None:
    """The worker id in a lease, or None for leases without one (embedded worker, older versions)."""
    worker, sep, _ = lease.partition(SEPARATOR)
    return worker if sep else None


def _key(settings: Settings, worker_id: str) -> str:
    return f"{settings.broker_key_prefix}framesentry:worker:{worker_id}"


def _client(settings: Settings) -> Any:
    import redis

    return redis.Redis.from_url(str(settings.broker_url), socket_timeout=settings.broker_timeout_s,
                                socket_connect_timeout=settings.broker_timeout_s)


def supported(settings: Settings) -> bool:
    return bool(settings.broker_url) and str(settings.broker_url).startswith(("redis://", "rediss://", "unix://"))


class Presence:
    """Refreshes this worker's key every third of the TTL on a daemon thread; ``stop`` deletes it."""

    def __init__(self, settings: Settings, worker_id: str) -> None:
        self.settings = settings
        self.worker_id = worker_id
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.beat()
        self._thread = threading.Thread(target=self._run, name="framesentry-presence", daemon=True)
        self._thread.start()

    def beat(self) -> None:
        ttl_ms = max(1000, int(self.settings.worker_presence_ttl_s * 1000))
        client = _client(self.settings)
        try:
            client.set(_key(self.settings, self.worker_id), "1", px=ttl_ms)
        finally:
            client.close()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.worker_presence_ttl_s / 3):
            try:
                self.beat()
            except Exception as exc:  # the broker is down: nothing to refresh; jobs are safe on their heartbeat
                log.warning("worker presence not refreshed: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        try:
            client = _client(self.settings)
            client.delete(_key(self.settings, self.worker_id))
            client.close()
        except Exception as exc:
            log.warning("worker presence not removed: %s", exc)


def alive(settings: Settings, worker_ids: set[str]) -> set[str]:
    """The subset of ``worker_ids`` whose key exists (raises redis errors when the broker is down)."""
    if not worker_ids:
        return set()
    ordered = sorted(worker_ids)
    client = _client(settings)
    try:
        found = client.mget([_key(settings, w) for w in ordered])
    finally:
        client.close()
    return {w for w, value in zip(ordered, found, strict=True) if value is not None}
