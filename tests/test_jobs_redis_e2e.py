"""End to end in the distributed mode: the API (uvicorn, in this process), a real `framesentry worker`
subprocess (Celery, prefork), the machine's PostgreSQL and Redis, the real detection pipeline.

Proves: upload -> queued -> running with progress -> verdict stored in PostgreSQL -> signed webhook received;
duplicate uploads with one Idempotency-Key make one job; a worker killed with SIGKILL mid-job loses nothing
(the job finishes once a new worker starts).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
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
    WebhookReceiver,
    finished,
    poll_until,
    running_api,
    service_env,
    upload,
    verify_webhook,
    wait_ready,
)

from framesentry.api.app import create_app
from framesentry.config import Settings
from framesentry.store import analyses as repo
from framesentry.store.db import Database
from framesentry.store.models import Analysis, utcnow

pytest_plugins = ["conftest_service"]

pytestmark = pytest.mark.slow

JOB_TIMEOUT_S = 240


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, pg_url: str, redis_space: RedisSpace) -> dict[str, Any]:
    """Settings shared by the API in this process and the worker subprocesses."""
    return {
        "work_dir": tmp_path_factory.mktemp("distributed"),
        "database_url": pg_url,
        "broker_url": redis_space.url,
        "broker_key_prefix": redis_space.prefix,
        "queue_name": redis_space.queue,
        "broker_visibility_timeout_s": 4.0,  # a dead worker's job comes back after 4 s (production: limit + 5 min)
        "job_heartbeat_s": 1.0,
        "webhook_backoff_s": 0.5,
        "webhook_allowed_networks": "127.0.0.1/32",  # the test's receiver is on loopback
        "torch_threads": 2,
        "explain_enabled": False,  # these tests count queued tasks; the deep pass is tested in test_explain_*
    }


@pytest.fixture(scope="module")
def api(service: dict[str, Any]) -> Iterator[httpx.Client]:
    app = create_app(Settings(**service), run_worker=False)
    with running_api(app) as base, httpx.Client(base_url=base, timeout=60) as client:
        yield client


def start_worker(spawn: Callable[[list[str], dict[str, str], str], Proc], service: dict[str, Any]) -> Proc:
    proc = spawn(["worker", "--concurrency", "1", "--log-level", "info"], service_env(**service), "worker")
    wait_ready(proc, ANALYSES_WORKER_READY, timeout_s=120)
    return proc


def test_upload_to_verdict_with_webhook(api: httpx.Client, service: dict[str, Any], clip_faces_speech: Path,
                                        webhook_receiver: WebhookReceiver, spawn: Any) -> None:
    key = f"e2e-{uuid.uuid4().hex[:8]}"
    responses: list[httpx.Response] = []

    def send() -> None:
        responses.append(upload(api, clip_faces_speech, callback_url=webhook_receiver.url, idempotency_key=key))

    threads = [threading.Thread(target=send) for _ in range(3)]  # the same request, three times at once
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in responses] == [202, 202, 202], [r.text for r in responses]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1, "one Idempotency-Key must give one analysis"
    [aid] = ids
    assert all(r.json()["status"] == "queued" for r in responses)  # nothing runs before a worker exists

    start_worker(spawn, service)
    seen: list[dict[str, Any]] = []
    body = poll_until(api, aid, finished, JOB_TIMEOUT_S, seen)
    assert body["status"] == "done", body
    assert any(b["status"] == "running" and 0 < b["progress_pct"] < 100 for b in seen), "no progress observed"
    result = body["result"]
    assert body["verdict"] == result["verdict"] and result["verdict"] in ("real", "fake", "uncertain")
    assert result["visual"]["status"] == "ok" and result["audio"]["status"] == "ok"
    assert len(result["faces"]) == 1 and result["segments"]
    assert {"visual", "audio"} <= set(result["models"]) and result["timing_s"]["total"] > 0
    assert body["attempts"] == 1  # one job ran, once

    # The verdict is in PostgreSQL, with the per-segment rows next to it.
    db = Database(service["database_url"])
    with db.session() as session:
        row = repo.get(session, uuid.UUID(aid))
        assert row is not None and row.status == "done" and row.p_fake == result["p_fake"]
        assert len(repo.audio_segments_of(session, row.id)) == len(result["segments"])
        frames = repo.frames_of(session, row.id)
        assert len(frames) == len({f["t_s"] for f in result["frames"]}) > 0
        assert sum(len(f.faces) for f in frames) == len(result["frames"])
        assert repo.list_page(session, owner_id=row.owner_id, sha256=body["video"]["sha256"]).total == 1
    db.engine.dispose()

    [hook] = webhook_receiver.wait(1, timeout_s=30)
    payload = verify_webhook(hook, Settings(**service).webhook_secret.get_secret_value())
    assert payload["event"] == "analysis.completed" and payload["analysis"]["id"] == aid
    assert payload["analysis"]["p_fake"] == result["p_fake"]


def test_worker_killed_mid_job_loses_nothing(api: httpx.Client, service: dict[str, Any], long_clip: Path,
                                             spawn: Any, redis_space: RedisSpace) -> None:
    first = start_worker(spawn, service)
    aid = upload(api, long_clip).json()["id"]
    try:
        midway = poll_until(api, aid, lambda b: b["status"] == "running" and b["progress_pct"] > 2, JOB_TIMEOUT_S)
    except AssertionError as exc:  # say what the worker was doing (a CI run once timed out here)
        raise AssertionError(f"{exc}\n--- worker log ---\n{first.output()[-3000:]}") from None
    assert midway["stage"] in ("visual", "audio")
    first.kill_group()  # SIGKILL to the worker and its pool child: no chance to ack, requeue or clean up
    after_kill = api.get(f"/v1/analyses/{aid}").json()
    assert after_kill["status"] == "running" and after_kill["progress_pct"] < 100
    # acks_late: Redis still holds the message, unacknowledged (or, past the 4 s visibility timeout, already
    # back in the queue); it was not lost with the worker.
    client = redis.Redis.from_url(redis_space.url)
    held = client.hlen(f"{redis_space.prefix}unacked") + client.llen(f"{redis_space.prefix}{redis_space.queue}")
    client.close()
    assert held >= 1

    start_worker(spawn, service)
    body = poll_until(api, aid, finished, JOB_TIMEOUT_S)
    assert body["status"] == "done", body
    assert body["attempts"] == 2  # claimed by the killed worker, then by the new one
    assert body["result"]["media"]["duration_s"] == pytest.approx(40.0, abs=0.1)
    assert len(body["result"]["faces"]) == 1


def test_new_worker_requeues_stalled_jobs(api: httpx.Client, service: dict[str, Any], clip_faces_speech: Path,
                                          redis_space: RedisSpace) -> None:
    """A job whose worker stopped beating is published again when a worker starts (no visibility-timeout wait);
    a job with a live heartbeat is left alone."""
    from framesentry.jobs.app import create_celery
    from framesentry.jobs.recovery import requeue

    settings = Settings(**service)
    celery = create_celery(settings)
    db = Database(settings.database_url)
    stale_id = uuid.UUID(upload(api, clip_faces_speech).json()["id"])
    live_id = uuid.UUID(upload(api, clip_faces_speech).json()["id"])
    with db.transaction() as session:
        assert repo.claim(session, stale_id, "dead-worker", utcnow()).claimed
        assert repo.claim(session, live_id, "live-worker", utcnow()).claimed
        session.get_one(Analysis, stale_id).heartbeat_at = utcnow() - timedelta(minutes=5)
    queue = redis.Redis.from_url(redis_space.url)
    key = f"{redis_space.prefix}{redis_space.queue}"
    before = queue.llen(key)
    published = requeue(celery, stale_only=True)  # (other tests in this database may have stalled jobs too)
    assert published >= 1 and queue.llen(key) == before + published
    args = " ".join(json.loads(m)["headers"]["argsrepr"] for m in queue.lrange(key, 0, published - 1))
    assert str(stale_id) in args and str(live_id) not in args
    for aid in (stale_id, live_id):  # leave nothing for later tests' workers
        assert api.delete(f"/v1/analyses/{aid}").status_code == 204
    queue.close()
    db.engine.dispose()
