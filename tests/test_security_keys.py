"""Finding 2: API keys are revocable, expire, carry a role enforced on every route, and are stored as digests.

The real app on loopback with a migrated SQLite database (embedded-mode storage, no worker). Proves: a key
removed from FRAMESENTRY_API_KEYS stops working after a restart; keys made through the API (and the CLI) are
shown once, listed without their secret, revoked and expired; each role gets 403 outside its rights, on REST,
WHIP and the score WebSocket; no column holds a key or a piece of one.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from service_helpers import REPO, running_api, service_env
from sqlalchemy import text

from framesentry.api.app import create_app
from framesentry.config import Settings
from framesentry.store.db import Database

pytest_plugins = ["conftest_service"]


@contextmanager
def api(work: Path, keys: str) -> Iterator[httpx.Client]:
    settings = Settings(work_dir=work, api_keys=keys, live_enabled=False)
    with running_api(create_app(settings, run_worker=False)) as base, httpx.Client(base_url=base, timeout=30) as c:
        yield c


def as_key(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def test_removed_configured_key_is_revoked_at_restart(tmp_path: Path) -> None:
    with api(tmp_path, "alice:key-a,bob:key-b") as c:
        assert c.get("/v1/analyses", headers=as_key("key-b")).status_code == 200
    with api(tmp_path, "alice:key-a") as c:
        assert c.get("/v1/analyses", headers=as_key("key-a")).status_code == 200
        gone = c.get("/v1/analyses", headers=as_key("key-b"))
        assert gone.status_code == 401 and gone.json()["error"]["code"] == "unauthorized"


def test_only_digests_and_a_public_id_are_stored(tmp_path: Path) -> None:
    """A short key used to be stored whole in ``prefix``; no column may contain the key or a slice of it."""
    secret = "s3cr3tkey"
    with api(tmp_path, f"carol:{secret}") as c:
        assert c.get("/v1/analyses", headers=as_key(secret)).status_code == 200
    db = Database(Settings(work_dir=tmp_path).database_url)
    with db.session() as session:
        rows = session.execute(text("SELECT * FROM api_keys")).mappings().all()
    db.engine.dispose()
    assert rows
    for row in rows:
        for column, value in row.items():
            assert not (isinstance(value, str) and secret[:4] in value), (column, value)


def test_keys_api_create_list_revoke_expire(tmp_path: Path) -> None:
    with api(tmp_path, "ops@admin:root-key") as c:
        made = c.post("/v1/keys", json={"name": "dana", "role": "analyst"}, headers=as_key("root-key"))
        assert made.status_code == 201, made.text
        created = made.json()
        secret, key_id = created["key"], created["id"]
        assert created["role"] == "analyst" and secret.startswith("fs_") and key_id in secret
        assert c.get("/v1/analyses", headers=as_key(secret)).status_code == 200
        listed = c.get("/v1/keys", headers=as_key("root-key")).json()["items"]
        assert any(k["id"] == key_id and k["name"] == "dana" for k in listed)
        assert secret not in c.get("/v1/keys", headers=as_key("root-key")).text  # shown once, never again
        assert c.delete(f"/v1/keys/{key_id}", headers=as_key("root-key")).status_code == 204
        assert c.get("/v1/analyses", headers=as_key(secret)).status_code == 401

        short = c.post("/v1/keys", json={"name": "temp", "role": "viewer", "expires_in_s": 1},
                       headers=as_key("root-key")).json()
        assert c.get("/v1/analyses", headers=as_key(short["key"])).status_code == 200
        time.sleep(1.5)
        assert c.get("/v1/analyses", headers=as_key(short["key"])).status_code == 401
        assert c.post("/v1/keys", json={"name": "x", "role": "admin"}, headers=as_key(secret)).status_code == 401


ROLE_KEYS = "ops@admin:k-admin,ann@analyst:k-analyst,pub@publisher:k-publisher,vic@viewer:k-viewer"


@pytest.fixture(scope="module")
def roles(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    settings = Settings(work_dir=tmp_path_factory.mktemp("roles"), api_keys=ROLE_KEYS, rtmp_port=0)
    with running_api(create_app(settings, run_worker=False)) as base, httpx.Client(base_url=base, timeout=30) as c:
        yield c


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("POST", "/v1/analyses", {"admin", "analyst"}),
    ("GET", "/v1/analyses", {"admin", "analyst", "viewer"}),
    ("POST", "/v1/streams", {"admin", "publisher"}),
    ("GET", "/v1/streams", {"admin", "analyst", "viewer"}),
    ("GET", "/v1/stream-keys", {"admin", "publisher"}),
    ("GET", "/v1/keys", {"admin"}),
    ("POST", "/v1/keys", {"admin"}),
    ("POST", "/v1/whip/some-stream-key", {"admin", "publisher"}),
])
def test_roles_are_enforced_on_every_route(roles: httpx.Client, clip_faces_speech: Path, method: str, path: str,
                                           allowed: set[str]) -> None:
    """A role outside its rights gets 403 (before any body is read); inside them it gets past the check."""
    for role in ("admin", "analyst", "publisher", "viewer"):
        response = roles.request(method, path, headers=as_key(f"k-{role}"))
        if role in allowed:
            assert response.status_code not in (401, 403), (role, method, path, response.text)
        else:
            assert response.status_code == 403, (role, method, path, response.text)
            assert response.json()["error"]["code"] == "forbidden"


def test_score_websocket_needs_a_reading_role(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    app = create_app(Settings(work_dir=tmp_path, api_keys="ops@admin:k-admin,x@publisher:k-pub",
                              live_enabled=True, rtmp_port=0), run_worker=False)
    url = "/v1/streams/00000000-0000-0000-0000-000000000000/scores"
    with TestClient(app) as client:
        with client.websocket_connect(url, headers=as_key("k-admin")) as ws:
            assert ws.receive_json()["error"]["code"] == "not_found"
        with client.websocket_connect(url, headers=as_key("k-pub")) as ws:  # a publisher does not read scores
            assert ws.receive_json()["error"]["code"] == "forbidden"
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 4403


def test_cli_creates_lists_and_revokes_keys(tmp_path: Path) -> None:
    env = service_env(work_dir=tmp_path)

    def cli(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "framesentry", "keys", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    secret = cli("create", "erin", "--role", "viewer").strip().splitlines()[-1]
    assert secret.startswith("fs_")
    key_id = secret.split("_")[1]
    assert key_id in cli("list") and secret not in cli("list")
    with api(tmp_path, "ops@admin:root") as c:
        assert c.get("/v1/analyses", headers=as_key(secret)).status_code == 200
        cli("revoke", key_id)
        assert c.get("/v1/analyses", headers=as_key(secret)).status_code == 401
