"""End to end in embedded mode: `framesentry serve` with no configuration (a subprocess, as a user runs it)
answers an upload with a verdict: API, in-process Celery worker and SQLite in one process, no external
service. The webhook reaches a test HTTP server; the verdict is in the SQLite file under the work directory."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_helpers import (
    WebhookReceiver,
    finished,
    free_port,
    poll_until,
    service_env,
    upload,
    verify_webhook,
    wait_ready,
)

from framesentry.config import DEV_WEBHOOK_SECRET
from framesentry.store import analyses as repo
from framesentry.store.db import Database

pytest_plugins = ["conftest_service"]

pytestmark = pytest.mark.slow


def test_serve_embedded_upload_to_verdict(tmp_path: Path, clip_faces_speech: Path,
                                          webhook_receiver: WebhookReceiver, spawn: Any) -> None:
    port = free_port()
    # Live ingest stays on, as `framesentry serve` runs it, with the RTMP listener on any free port.
    env = service_env(work_dir=tmp_path, rtmp_port=0, webhook_allowed_networks="127.0.0.1/32")  # receiver: loopback
    proc = spawn(["serve", "--port", str(port)], env, "serve")
    wait_ready(proc, "Uvicorn running", timeout_s=120)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        health = client.get("/v1/health").json()
        assert health["mode"] == "embedded" and health["auth"] is False
        created = upload(client, clip_faces_speech, callback_url=webhook_receiver.url)
        assert created.status_code == 202, created.text
        aid = created.json()["id"]
        seen: list[dict[str, Any]] = []
        body = poll_until(client, aid, finished, 240, seen)
    assert body["status"] == "done", body
    assert any(b["status"] == "running" and 0 < b["progress_pct"] < 100 for b in seen), "no progress observed"
    assert body["result"]["verdict"] == body["verdict"] in ("real", "fake", "uncertain")
    assert body["result"]["visual"]["status"] == "ok" and len(body["result"]["faces"]) == 1

    payload = verify_webhook(webhook_receiver.wait(1)[0], DEV_WEBHOOK_SECRET)
    assert payload["event"] == "analysis.completed" and payload["analysis"]["verdict"] == body["verdict"]

    db = Database(f"sqlite:///{tmp_path / 'service' / 'framesentry.db'}")
    with db.session() as session:
        row = repo.get(session, uuid.UUID(aid))
        assert row is not None and row.status == "done" and row.verdict == body["verdict"]
    db.engine.dispose()
    assert len(list((tmp_path / "service" / "media" / "videos").iterdir())) == 1

    proc.popen.send_signal(signal.SIGTERM)  # graceful stop: uvicorn, then the embedded worker
    # uvicorn re-raises the signal after a clean shutdown, so the exit status is "terminated by SIGTERM".
    assert proc.popen.wait(30) == -signal.SIGTERM
    assert "Application shutdown complete" in proc.output()
