"""``framesentry.client`` against a real server (uvicorn, embedded worker, SQLite, API keys on), and the
score WebSocket's credentials: API key by header or browser subprotocol, or the stream's own stream key.

The live scoring path itself is exercised through the client by ``framesentry watch`` in
tests/test_live_e2e.py; here the stream rows are made with the store's repository, without publishers.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from service_helpers import ScriptedAnalyzer, running_api

from framesentry.client import ApiError, FrameSentryClient
from framesentry.config import Settings


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    from framesentry.api.app import create_app

    settings = Settings(work_dir=tmp_path_factory.mktemp("client-work"), api_keys="alice:key-a,bob:key-b")
    app = create_app(settings, analyzer=ScriptedAnalyzer(steps=2, step_s=0.05))
    with running_api(app) as base:
        yield base, app.state.services


def test_analyses_round_trip_and_errors_carry_the_server_code(server: tuple[str, Any], clip_faces_speech: Path) -> None:
    base, _ = server
    with FrameSentryClient(base, api_key="key-a") as alice:
        queued = alice.submit_analysis(clip_faces_speech, idempotency_key="client-1")
        assert queued["status"] in ("queued", "running") and queued["video"]["filename"] == clip_faces_speech.name
        done = alice.wait_for_analysis(queued["id"], timeout_s=60, every_s=0.1)
        assert done["status"] == "done" and done["verdict"] == "fake" and done["p_fake"] == pytest.approx(0.82)
        assert done["result"] is not None and len(done["result"]["segments"]) == 3
        page = alice.analyses(verdict="fake")
        assert page["total"] >= 1 and queued["id"] in [a["id"] for a in page["items"]]
        assert alice.analyses(verdict="real")["items"] == []
        with pytest.raises(ApiError) as missing:
            alice.analysis(str(uuid.uuid4()))
        assert (missing.value.code, missing.value.http_status) == ("not_found", 404)
        alice.delete_analysis(queued["id"])
        with pytest.raises(ApiError):
            alice.analysis(queued["id"])
    with FrameSentryClient(base, api_key="wrong") as stranger, pytest.raises(ApiError) as refused:
        stranger.analyses()
    assert (refused.value.code, refused.value.http_status) == ("unauthorized", 401)
    with FrameSentryClient("http://127.0.0.1:9", timeout_s=2) as nowhere, pytest.raises(ApiError) as down:
        nowhere.analyses()
    assert down.value.code == "unreachable"


def test_sources_keys_and_streams(server: tuple[str, Any]) -> None:
    base, services = server
    from framesentry.store import streams as repo

    with FrameSentryClient(base, api_key="key-a") as alice, FrameSentryClient(base, api_key="key-b") as bob:
        made = alice.create_source("studio-client")
        assert made["key"].startswith("fsk_") and made["ingest"]["rtmp"].endswith(made["key"])
        assert made["id"] in [k["id"] for k in alice.stream_keys()]
        assert made["id"] not in [k["id"] for k in bob.stream_keys()]
        with services.db.transaction() as tx:
            row = repo.start_stream(tx, repo.resolve_stream_key(tx, made["key"]), "rtmp")
            stream_id = str(row.id)
        info = alice.stream(stream_id)
        assert info["name"] == "studio-client" and info["state"] == "live"  # the source's name, not null
        assert [s["name"] for s in alice.streams(key_id=made["id"])["items"]] == ["studio-client"]
        assert alice.series(stream_id, bucket_s=2)["buckets"] == []
        with pytest.raises(ApiError) as hidden:
            bob.stream(stream_id)
        assert hidden.value.code == "not_found"
        alice.revoke_key(made["id"])
        assert made["id"] not in [k["id"] for k in alice.stream_keys()]
        assert [k["revoked_at"] for k in alice.stream_keys(include_revoked=True) if k["id"] == made["id"]] != [None]
        with pytest.raises(ApiError) as not_live:  # this server runs no live detection: the socket says so
            list(alice.scores(stream_id))
        assert not_live.value.code == "not_found"


def _protocols(credential: str) -> list[str]:
    token = base64.urlsafe_b64encode(credential.encode()).decode().rstrip("=")
    return ["framesentry.v1", f"framesentry.auth.{token}"]


def test_score_socket_takes_an_api_key_or_the_streams_own_stream_key(tmp_path: Path) -> None:
    """Past authorisation, a server without live detection answers not_found 'live detection is not enabled';
    before it, a refused credential gets unauthorized (4401) and someone else's stream not_found (4404)."""
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    from framesentry.api.app import create_app
    from framesentry.store import streams as repo

    app = create_app(Settings(work_dir=tmp_path, api_keys="alice:key-a,bob:key-b"), run_worker=False)
    with TestClient(app) as client:
        made = [client.post("/v1/streams", json={"name": n}, headers={"X-API-Key": "key-a"}).json()
                for n in ("cam-1", "cam-2")]
        services = app.state.services
        with services.db.transaction() as tx:
            ids = [str(repo.start_stream(tx, repo.resolve_stream_key(tx, m["key"]), "whip").id) for m in made]

        def first(stream_id: str, protocols: list[str], headers: dict[str, str] | None = None) -> tuple[str, str, int]:
            with client.websocket_connect(f"/v1/streams/{stream_id}/scores", subprotocols=protocols,
                                          headers=headers or {}) as ws:
                error = ws.receive_json()["error"]
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_json()
                return error["code"], error["message"], closed.value.code

        passed = ("not_found", "live detection is not enabled on this server", 4404)
        assert first(ids[0], _protocols(made[0]["key"])) == passed          # its own stream key
        assert first(ids[0], _protocols("key-a")) == passed                 # the owner's API key
        assert first(ids[0], [], {"X-API-Key": "key-a"}) == passed
        assert first(ids[1], _protocols(made[0]["key"]))[2] == 4401         # another stream's key
        assert first(ids[0], _protocols("key-b"))[::2] == ("not_found", 4404)  # another user's stream
        assert first(ids[0], _protocols("fsk_made_up"))[2] == 4401
