"""Finding 3: a worker killed with SIGKILL and replaced at once: its job resumes within seconds, not after
the heartbeat goes stale or Redis's visibility timeout (35 minutes with the defaults).

Real `framesentry worker` processes (Celery prefork) on the machine's PostgreSQL and Redis, the real pipeline.
The heartbeat here is 30 s, so a job is stale only after 90 s, and the visibility timeout is the default
(job limit + 5 min): the test passes only if the replacement sees that the lease's worker is gone.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_helpers import RedisSpace, finished, poll_until, running_api, service_env, wait_ready

from framesentry.api.app import create_app
from framesentry.config import Settings

pytest_plugins = ["conftest_service"]
pytestmark = pytest.mark.slow

RESUME_WITHIN_S = 60.0


def test_sigkilled_worker_job_is_reclaimed_by_its_replacement(tmp_path: Path, pg_url: str, redis_space: RedisSpace,
                                                              long_clip: Path, spawn: Any) -> None:
    service = {
        "work_dir": tmp_path, "database_url": pg_url, "broker_url": redis_space.url,
        "broker_key_prefix": redis_space.prefix, "queue_name": f"{redis_space.queue}-reclaim",
        "job_heartbeat_s": 30.0, "torch_threads": 2, "live_enabled": False,
    }
    env = service_env(**service)
    with running_api(create_app(Settings(**service), run_worker=False)) as base, \
            httpx.Client(base_url=base, timeout=60) as api:
        first = spawn(["worker", "--concurrency", "1"], env, "worker")
        wait_ready(first, " ready.", timeout_s=120)
        with long_clip.open("rb") as fh:
            aid = api.post("/v1/analyses", files={"file": ("long.mp4", fh, "video/mp4")}).json()["id"]
        poll_until(api, aid, lambda b: b["status"] == "running" and b["progress_pct"] > 2, 240)
        first.kill_group()  # SIGKILL: no ack, no hand-back, the heartbeat thread dies with it
        assert api.get(f"/v1/analyses/{aid}").json()["status"] == "running"

        second = spawn(["worker", "--concurrency", "1"], env, "worker")
        wait_ready(second, " ready.", timeout_s=120)
        started = time.monotonic()
        body = poll_until(api, aid, finished, RESUME_WITHIN_S)
        assert body["status"] == "done", body
        assert body["attempts"] == 2
        assert time.monotonic() - started < RESUME_WITHIN_S
