"""Finding 1: webhooks cannot be pointed at internal addresses, and their record is no port-scan oracle.

Embedded server (in-process worker, SQLite) with a scripted analyser, so the jobs finish in a fraction of a
second; the receivers are real HTTP servers on loopback. Proves: every address is checked at send time, after
DNS too (``localhost`` passes the upload and is refused when sending; numeric forms of 127.0.0.1 are caught),
an explicit allow-list lets an internal receiver through, and what the remote answered is reported only as a
status class (a closed port and PostgreSQL's port look the same).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from service_helpers import (
    ScriptedAnalyzer,
    WebhookReceiver,
    finished,
    free_port,
    poll_until,
    running_api,
    upload,
    wait_for,
)

from framesentry.api.app import create_app
from framesentry.config import Settings

pytest_plugins = ["conftest_service"]


def settings_for(work: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"webhook_backoff_s": 0.1, "webhook_max_attempts": 1, "live_enabled": False,
                              "queue_name": f"test-{uuid.uuid4().hex[:8]}"}
    return Settings(work_dir=work, **(values | overrides))


@contextmanager
def server(settings: Settings) -> Iterator[httpx.Client]:
    app = create_app(settings, analyzer=ScriptedAnalyzer(steps=1, step_s=0.01), run_worker=True)
    with running_api(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client


def attempts(client: httpx.Client, aid: str) -> list[dict[str, Any]]:
    return wait_for(lambda: client.get(f"/v1/analyses/{aid}/webhooks").json()["items"], 20, "a webhook attempt")


def test_internal_callbacks_are_refused_at_send_time(tmp_path: Path, clip_faces_speech: Path,
                                                      webhook_receiver: WebhookReceiver) -> None:
    port = webhook_receiver.url.split(":")[2].split("/")[0]
    urls = [f"http://{host}:{port}/hook" for host in
            ("localhost", "127.0.0.1", "127.1", "2130706433", "0x7f000001", "0.0.0.0", "[::1]",
             "[::ffff:127.0.0.1]", "169.254.169.254", "10.1.2.3", "192.168.0.1", "224.0.0.1")]
    with server(settings_for(tmp_path)) as client:
        for url in urls:
            created = upload(client, clip_faces_speech, callback_url=url)
            if created.status_code == 422:  # a literal internal address may be refused at once
                assert created.json()["error"]["code"] == "invalid_callback_url", created.text
                assert url != urls[0], "a host name can only be judged after DNS, at send time"
                continue
            assert created.status_code == 202, created.text
            aid = created.json()["id"]
            assert poll_until(client, aid, finished, 30)["status"] == "done"
            [attempt] = attempts(client, aid)
            assert attempt["outcome"] == "blocked" and not attempt["succeeded"], (url, attempt)
    time.sleep(0.3)
    assert webhook_receiver.received == [], "the worker POSTed to an internal address"


def test_allow_list_lets_an_internal_receiver_through(tmp_path: Path, clip_faces_speech: Path,
                                                      webhook_receiver: WebhookReceiver) -> None:
    settings = settings_for(tmp_path, webhook_allowed_networks="127.0.0.1/32")
    with server(settings) as client:
        aid = upload(client, clip_faces_speech, callback_url=webhook_receiver.url).json()["id"]
        [hook] = webhook_receiver.wait(1)
        [attempt] = attempts(client, aid)
    assert attempt["outcome"] == "2xx" and attempt["succeeded"]
    assert hook.headers["x-framesentry-event"] == "analysis.completed"


def test_remote_answers_are_reported_as_a_class_only(tmp_path: Path, clip_faces_speech: Path,
                                                     webhook_receiver: WebhookReceiver) -> None:
    """A closed port and a non-HTTP service (PostgreSQL) give the same record; an HTTP 500 shows as 5xx."""
    webhook_receiver.fail_first = 1
    settings = settings_for(tmp_path, webhook_allowed_networks="127.0.0.0/8")
    targets = [f"http://127.0.0.1:{free_port()}/x", "http://127.0.0.1:5432/x", webhook_receiver.url]
    with server(settings) as client:
        ids = [upload(client, clip_faces_speech, callback_url=url).json()["id"] for url in targets]
        closed, postgres, http500 = (attempts(client, aid)[0] for aid in ids)
    view = [{k: v for k, v in a.items() if k in ("outcome", "error", "succeeded")} for a in (closed, postgres)]
    assert view[0] == view[1] == {"outcome": "unreachable", "error": "unreachable", "succeeded": False}, view
    assert http500["outcome"] == "5xx" and "status_code" not in http500


def test_production_refuses_the_default_webhook_secret() -> None:
    with pytest.raises(ValidationError, match="WEBHOOK_SECRET"):
        Settings(environment="production", api_keys="k")
