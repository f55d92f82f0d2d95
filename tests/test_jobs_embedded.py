"""Job machinery in embedded mode (in-process Celery worker on the memory broker, SQLite): progress, retries
with backoff for transient faults, no retry for bad media, the time limit, deletion mid-job, signed webhooks
with retries, recovery of unfinished jobs after a restart, and deep passes on their own queue (also on Redis).

The detector is replaced by a scripted analyser where a test is about the job plumbing (what a fault does,
how progress flows); the bad-media test and the end-to-end tests run the real pipeline.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_helpers import (
    ScriptedAnalyzer,
    WebhookReceiver,
    finished,
    poll_until,
    running_api,
    upload,
    verify_webhook,
    wait_for,
)

from framesentry.api.app import create_app
from framesentry.config import Settings
from framesentry.errors import CorruptMediaError, TransientError
from framesentry.explain.schema import Explanation
from framesentry.inference.pipeline import ProgressCallback
from framesentry.inference.result import AnalysisResult
from framesentry.store import analyses as repo
from framesentry.store.db import Database

pytest_plugins = ["conftest_service"]


def settings_for(work: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"job_heartbeat_s": 0.5, "job_retry_backoff_s": 0.5, "webhook_backoff_s": 0.2,
                              "webhook_allowed_networks": "127.0.0.1/32",  # the test receivers are on loopback
                              "queue_name": f"test-{uuid.uuid4().hex[:8]}"}  # memory queues are per process
    return Settings(work_dir=work, **(values | overrides))


@contextmanager
def server(settings: Settings, analyzer: Any = None, run_worker: bool = True,
           explainer: Any = None) -> Iterator[httpx.Client]:
    app = create_app(settings, analyzer=analyzer, run_worker=run_worker, explainer=explainer)
    with running_api(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client


def test_progress_result_and_signed_webhook(tmp_path: Path, clip_faces_speech: Path,
                                            webhook_receiver: WebhookReceiver) -> None:
    """upload -> queued -> running with rising progress -> done with the result stored -> one signed webhook."""
    settings = settings_for(tmp_path)
    analyzer = ScriptedAnalyzer(steps=6, step_s=0.3)
    with server(settings, analyzer) as client:
        created = upload(client, clip_faces_speech, callback_url=webhook_receiver.url)
        assert created.status_code == 202 and created.json()["status"] == "queued"
        aid = created.json()["id"]
        seen: list[dict[str, Any]] = []
        body = poll_until(client, aid, finished, 30, seen)
        assert body["status"] == "done", body
        running = [b["progress_pct"] for b in seen if b["status"] == "running"]
        assert any(0 < p < 100 for p in running), running
        assert running == sorted(running)
        assert {b["stage"] for b in seen if b["status"] == "running"} & {"visual", "audio"}
        assert body["verdict"] == "fake" and body["p_fake"] == 0.82 and body["progress_pct"] == 100
        assert body["result"]["media"]["path"] == clip_faces_speech.name  # no server paths leak
        assert body["result"]["models"] == {"audio": "scripted"}
        [hook] = webhook_receiver.wait(1)
        payload = verify_webhook(hook, settings.webhook_secret.get_secret_value())
        assert payload["event"] == "analysis.completed" and payload["analysis"]["id"] == aid
        assert payload["analysis"]["verdict"] == "fake"
        assert hook.headers["x-framesentry-event"] == "analysis.completed"
        attempts = wait_for(lambda: client.get(f"/v1/analyses/{aid}/webhooks").json()["items"], 10, "attempt row")
        assert [(a["attempt"], a["succeeded"], a["outcome"]) for a in attempts] == [(1, True, "2xx")]
    db = Database(settings.database_url)
    with db.session() as s:
        rows = repo.audio_segments_of(s, uuid.UUID(aid))
    assert [(r.start_s, r.speech) for r in rows] == [(0.0, True), (2.0, True), (4.0, False)]


def test_transient_fault_is_retried_with_backoff(tmp_path: Path, clip_faces_speech: Path) -> None:
    analyzer = ScriptedAnalyzer(faults=[TransientError("database hiccup"), ConnectionError("reset")])
    with server(settings_for(tmp_path, job_retry_backoff_s=0.5, job_max_retries=3), analyzer) as client:
        aid = upload(client, clip_faces_speech).json()["id"]
        body = poll_until(client, aid, finished, 30)
    assert body["status"] == "done" and body["attempts"] == 3
    gaps = [b - a for a, b in zip(analyzer.calls, analyzer.calls[1:], strict=False)]
    assert gaps[0] >= 0.45 and gaps[1] >= 0.95, gaps  # 0.5 s, then 1 s: exponential backoff


def test_transient_fault_gives_up_after_max_retries(tmp_path: Path, clip_faces_speech: Path,
                                                    webhook_receiver: WebhookReceiver) -> None:
    analyzer = ScriptedAnalyzer(faults=[TransientError("down")] * 5)
    settings = settings_for(tmp_path, job_retry_backoff_s=0.2, job_max_retries=1)
    with server(settings, analyzer) as client:
        aid = upload(client, clip_faces_speech, callback_url=webhook_receiver.url).json()["id"]
        body = poll_until(client, aid, finished, 30)
        assert body["status"] == "failed" and body["error"]["code"] == "transient_error"
        assert len(analyzer.calls) == 2
        payload = verify_webhook(webhook_receiver.wait(1)[0], settings.webhook_secret.get_secret_value())
        assert payload["event"] == "analysis.failed" and payload["analysis"]["error"]["code"] == "transient_error"


def test_bad_media_is_not_retried(tmp_path: Path, clip_faces_speech: Path, truncated_clip: Path) -> None:
    """Real pipeline: a stored file that turns out corrupt fails once with its media error code, no retry."""
    settings = settings_for(tmp_path, job_retry_backoff_s=0.2)
    with server(settings) as client:
        aid = upload(client, clip_faces_speech).json()["id"]
        # Swap the stored bytes for a damaged file, as if the disk copy had been corrupted.
        [stored] = (tmp_path / "service" / "media" / "videos").iterdir()
        stored.write_bytes(truncated_clip.read_bytes())
        body = poll_until(client, aid, finished, 60)
    assert body["status"] == "failed" and body["error"]["code"] == "corrupt_media" and body["attempts"] == 1


def test_scripted_media_error_is_not_retried(tmp_path: Path, clip_faces_speech: Path) -> None:
    analyzer = ScriptedAnalyzer(faults=[CorruptMediaError("broken at 3.0 s", at_s=3.0)])
    with server(settings_for(tmp_path), analyzer) as client:
        aid = upload(client, clip_faces_speech).json()["id"]
        body = poll_until(client, aid, finished, 30)
    assert body["error"] == {"code": "corrupt_media", "message": "broken at 3.0 s", "details": {"at_s": 3.0}}
    assert len(analyzer.calls) == 1 and body["attempts"] == 1


def test_time_limit(tmp_path: Path, clip_faces_speech: Path) -> None:
    analyzer = ScriptedAnalyzer(steps=20, step_s=0.2)
    with server(settings_for(tmp_path, job_time_limit_s=1.0), analyzer) as client:
        aid = upload(client, clip_faces_speech).json()["id"]
        body = poll_until(client, aid, finished, 30)
    assert body["status"] == "failed" and body["error"]["code"] == "time_limit_exceeded"
    assert body["error"]["details"] == {"limit_s": 1.0}


def test_delete_while_running_stops_the_job(tmp_path: Path, clip_faces_speech: Path) -> None:
    analyzer = ScriptedAnalyzer(steps=40, step_s=0.2)
    with server(settings_for(tmp_path), analyzer) as client:
        first = upload(client, clip_faces_speech).json()["id"]
        poll_until(client, first, lambda b: b["status"] == "running" and b["progress_pct"] > 0, 30)
        assert client.delete(f"/v1/analyses/{first}").status_code == 204
        analyzer.steps = 2  # the next job is short: it only runs once the deleted one has stopped
        second = upload(client, clip_faces_speech).json()["id"]
        body = poll_until(client, second, finished, 15)
    assert body["status"] == "done"
    assert len(list((tmp_path / "service" / "media" / "videos").iterdir())) == 1  # the deleted job's file is gone


def test_webhook_retried_until_accepted(tmp_path: Path, clip_faces_speech: Path,
                                        webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.fail_first = 2
    settings = settings_for(tmp_path, webhook_backoff_s=0.2, webhook_max_attempts=5)
    with server(settings, ScriptedAnalyzer(steps=1)) as client:
        aid = upload(client, clip_faces_speech, callback_url=webhook_receiver.url).json()["id"]
        hooks = webhook_receiver.wait(3)
        ids = {h.headers["x-framesentry-delivery"] for h in hooks}
        assert len(ids) == 1 and [h.headers["x-framesentry-attempt"] for h in hooks] == ["1", "2", "3"]
        for hook in hooks:
            verify_webhook(hook, settings.webhook_secret.get_secret_value())
        attempts = wait_for(lambda: [a for a in client.get(f"/v1/analyses/{aid}/webhooks").json()["items"]
                                     if a["succeeded"]], 10, "successful attempt")
        rows = client.get(f"/v1/analyses/{aid}/webhooks").json()["items"]
    assert [(a["attempt"], a["outcome"], a["succeeded"]) for a in rows] == [
        (1, "5xx", False), (2, "5xx", False), (3, "2xx", True)]
    assert attempts[0]["attempt"] == 3
    time.sleep(0.5)
    assert len(webhook_receiver.received) == 3  # delivered once accepted: no further attempts


def test_unfinished_jobs_survive_a_restart(tmp_path: Path, clip_faces_speech: Path) -> None:
    """Stop the embedded server mid-job and with a job still queued: both finish after the next start."""
    settings = settings_for(tmp_path)
    slow = ScriptedAnalyzer(steps=50, step_s=0.2)
    with server(settings, slow) as client:
        running = upload(client, clip_faces_speech).json()["id"]
        queued = upload(client, clip_faces_speech).json()["id"]
        poll_until(client, running, lambda b: b["status"] == "running" and b["progress_pct"] > 0, 30)
    with server(settings, run_worker=False) as client:  # what the database says after the stop
        assert client.get(f"/v1/analyses/{running}").json()["stage"] == "interrupted"
        assert client.get(f"/v1/analyses/{queued}").json()["status"] == "queued"
    with server(settings, ScriptedAnalyzer(steps=1)) as client:
        for aid in (running, queued):
            assert poll_until(client, aid, finished, 30)["status"] == "done"


class HeldDeepPass:
    """A deep pass that holds until the test releases it (the real one would finish at its own pace)."""

    def __init__(self) -> None:
        self.started, self.release = threading.Event(), threading.Event()

    def __call__(self, path: Path, result: AnalysisResult, out_dir: Path, progress: ProgressCallback,
                 sha256: str | None) -> Explanation:
        self.started.set()
        progress("heatmaps", 0.1)
        if not self.release.wait(60):
            raise TimeoutError("the test never released the deep pass")
        return Explanation(verdict=result.verdict.value, p_fake=result.p_fake, confidence=result.confidence,
                           methods={}, summary="held, then released", media_sha256=sha256)


@pytest.mark.parametrize("broker", ["memory", "redis"])
def test_a_verdict_never_waits_behind_a_deep_pass(broker: str, tmp_path: Path, clip_faces_speech: Path,
                                                  request: pytest.FixtureRequest) -> None:
    """Deep passes have their own queue and worker: with one analysis at a time (concurrency 1), the next
    upload gets its verdict while the previous one's deep pass is still running, and its own deep pass waits
    in the explain queue. Once on the in-memory broker (embedded), once on Redis and PostgreSQL."""
    overrides: dict[str, Any] = {"explain_enabled": True}
    if broker == "redis":
        space = request.getfixturevalue("redis_space")
        overrides |= {"broker_url": space.url, "broker_key_prefix": space.prefix,
                      "database_url": request.getfixturevalue("new_pg_database")(),
                      "queue_name": f"{space.queue}-{uuid.uuid4().hex[:6]}"}
    settings = settings_for(tmp_path, **overrides)
    assert settings.worker_concurrency == 1 and settings.explain_queue == f"{settings.queue_name}.explain"
    deep = HeldDeepPass()
    with server(settings, ScriptedAnalyzer(steps=2, step_s=0.1), explainer=deep) as client:
        first = upload(client, clip_faces_speech).json()["id"]
        assert poll_until(client, first, finished, 30)["status"] == "done"
        assert deep.started.wait(30), "the deep pass never started"
        second = upload(client, clip_faces_speech).json()["id"]
        body = poll_until(client, second, finished, 30)
        assert body["status"] == "done" and body["deep_pass"]["status"] == "queued", body["deep_pass"]
        assert client.get(f"/v1/analyses/{first}").json()["deep_pass"]["status"] == "running"
        deep.release.set()
        for aid in (first, second):
            body = poll_until(client, aid, lambda b: b["deep_pass"]["status"] in ("done", "failed"), 30)
            assert body["deep_pass"]["status"] == "done", body["deep_pass"]


def test_a_deep_pass_left_running_runs_again_after_a_restart(tmp_path: Path, clip_faces_speech: Path) -> None:
    """An embedded server stopped while a deep pass ran (the in-memory broker forgets it): the next start sends
    it again from the database, and it finishes."""
    settings = settings_for(tmp_path, explain_enabled=True)
    abandoned = HeldDeepPass()
    try:
        with server(settings, ScriptedAnalyzer(steps=2, step_s=0.1), explainer=abandoned) as client:
            aid = upload(client, clip_faces_speech).json()["id"]
            assert poll_until(client, aid, finished, 30)["status"] == "done"
            assert abandoned.started.wait(30), "the deep pass never started"
            assert client.get(f"/v1/analyses/{aid}").json()["deep_pass"]["status"] == "running"
        again = HeldDeepPass()
        again.release.set()
        with server(settings, ScriptedAnalyzer(steps=2, step_s=0.1), explainer=again) as client:
            body = poll_until(client, aid, lambda b: b["deep_pass"]["status"] in ("done", "failed"), 30)
            assert body["deep_pass"]["status"] == "done", body["deep_pass"]
            assert again.started.is_set()
    finally:
        abandoned.release.set()  # the first server's worker thread, left running at its stop, may end now
