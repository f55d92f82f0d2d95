"""Finding 3: a worker killed with SIGKILL and replaced at once: its job resumes within seconds, not after
the heartbeat goes stale or Redis's visibility timeout (35 minutes with the defaults).

Real `framesentry worker` processes (Celery prefork) on the machine's PostgreSQL and Redis, the real pipeline.
The heartbeat here is 60 s, so a job is stale only after 180 s, and the visibility timeout is the default
(job limit + 5 min): the test passes only if the replacement sees that the lease's worker is gone (presence
key expired, seen missing by two sweeps at the default 10 s interval) and hands the job back.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_helpers import (
    ANALYSES_WORKER_READY,
    RedisSpace,
    finished,
    poll_until,
    running_api,
    service_env,
    wait_ready,
)

from framesentry.api.app import create_app
from framesentry.config import Settings

pytest_plugins = ["conftest_service"]
pytestmark = pytest.mark.slow

RESUME_WITHIN_S = 90.0


def test_sigkilled_worker_job_is_reclaimed_by_its_replacement(tmp_path: Path, pg_url: str, redis_space: RedisSpace,
                                                              long_clip: Path, spawn: Any) -> None:
    service = {
        "work_dir": tmp_path, "database_url": pg_url, "broker_url": redis_space.url,
        "broker_key_prefix": redis_space.prefix, "queue_name": f"{redis_space.queue}-reclaim",
        "job_heartbeat_s": 60.0, "torch_threads": 2, "live_enabled": False,
    }
    env = service_env(**service)
    with running_api(create_app(Settings(**service), run_worker=False)) as base, \
            httpx.Client(base_url=base, timeout=60) as api:
        first = spawn(["worker", "--concurrency", "1"], env, "worker")
        wait_ready(first, ANALYSES_WORKER_READY, timeout_s=120)
        with long_clip.open("rb") as fh:
            aid = api.post("/v1/analyses", files={"file": ("long.mp4", fh, "video/mp4")}).json()["id"]
        try:
            poll_until(api, aid, lambda b: b["status"] == "running" and b["progress_pct"] > 2, 240)
        except AssertionError as exc:  # say what the worker was doing (a CI run once timed out here)
            raise AssertionError(f"{exc}\n--- worker log ---\n{first.output()[-3000:]}") from None
        first.kill_group()  # SIGKILL: no ack, no hand-back, the heartbeat thread dies with it
        assert api.get(f"/v1/analyses/{aid}").json()["status"] == "running"

        second = spawn(["worker", "--concurrency", "1"], env, "worker")
        wait_ready(second, ANALYSES_WORKER_READY, timeout_s=120)
        started = time.monotonic()
        body = poll_until(api, aid, finished, RESUME_WITHIN_S)
        assert body["status"] == "done", body
        assert body["attempts"] == 2
        assert time.monotonic() - started < RESUME_WITHIN_S


def test_sweeper_needs_a_worker_missing_twice_and_spares_live_ones(tmp_path: Path, pg_url: str,
                                                                    redis_space: RedisSpace,
                                                                    clip_faces_speech: Path) -> None:
    """A lease whose worker has no presence key is handed back on the second pass that finds it missing (a
    Redis restarted without its data must not take jobs from live workers); a live worker keeps its job."""
    from framesentry.jobs import presence
    from framesentry.jobs.app import create_celery
    from framesentry.jobs.recovery import sweep
    from framesentry.store import analyses as repo
    from framesentry.store.db import Database
    from framesentry.store.models import utcnow

    settings = Settings(work_dir=tmp_path, database_url=pg_url, broker_url=redis_space.url,
                        broker_key_prefix=redis_space.prefix, queue_name=f"{redis_space.queue}-sweep",
                        live_enabled=False)
    with running_api(create_app(settings, run_worker=False)) as base, httpx.Client(base_url=base) as api:
        ids = []
        for _ in range(2):
            with clip_faces_speech.open("rb") as fh:
                ids.append(api.post("/v1/analyses", files={"file": ("a.mp4", fh, "video/mp4")}).json()["id"])
    import uuid as uuid_mod

    dead, live = (uuid_mod.UUID(i) for i in ids)
    living = presence.Presence(settings, "live-worker")
    living.beat()
    db = Database(pg_url)
    with db.transaction() as session:
        assert repo.claim(session, dead, "gone-worker|host:1:aa", utcnow()).claimed
        assert repo.claim(session, live, "live-worker|host:2:bb", utcnow()).claimed
    app = create_celery(settings)
    suspects: set[str] = set()
    assert sweep(app, suspects).reclaimed == 0 and "gone-worker" in suspects  # first sighting: suspect only
    assert sweep(app, suspects).reclaimed == 1
    with db.session() as session:
        assert repo.get(session, dead).status == "queued" and repo.get(session, dead).enqueued_at is not None
        assert repo.get(session, live).status == "running"
    living.stop()
    with db.transaction() as session:
        for aid in (dead, live):
            row = repo.get(session, aid)
            if row is not None:
                repo.delete_analysis(session, row)
    db.engine.dispose()
