"""Finding 7: browser-facing hardening of the HTTP surface.

Proves: a cross-origin upload is refused (CSRF with keys off) while a same-origin one and a configured origin
pass, with a CORS preflight answered only for configured origins; security headers on every answer (nosniff,
frame options, a CSP on the served pages); no ``server: uvicorn`` header; ``/v1/system`` hides paths and
versions from anonymous callers; an oversized request header gets the JSON error shape.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from service_helpers import running_api

from framesentry.api.app import create_app
from framesentry.config import Settings

ALLOWED = "https://console.example.com"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    settings = Settings(work_dir=tmp_path_factory.mktemp("http"), cors_origins=ALLOWED, live_enabled=False)
    with running_api(create_app(settings, run_worker=False)) as base, httpx.Client(base_url=base, timeout=30) as c:
        yield c


def post(client: httpx.Client, clip: Path, origin: str | None) -> httpx.Response:
    headers = {"Origin": origin} if origin else {}
    with clip.open("rb") as fh:
        return client.post("/v1/analyses", files={"file": ("a.mp4", fh, "video/mp4")}, headers=headers)


def test_cross_origin_upload_is_refused(client: httpx.Client, clip_faces_speech: Path) -> None:
    """A page on another site can POST a multipart form without a preflight; the Origin header gives it away."""
    evil = post(client, clip_faces_speech, "https://evil.example")
    assert evil.status_code == 403, evil.text
    assert evil.json()["error"]["code"] == "forbidden"
    assert "access-control-allow-origin" not in evil.headers
    same = post(client, clip_faces_speech, str(client.base_url).rstrip("/"))
    assert same.status_code == 202, same.text
    allowed = post(client, clip_faces_speech, ALLOWED)
    assert allowed.status_code == 202 and allowed.headers["access-control-allow-origin"] == ALLOWED
    assert post(client, clip_faces_speech, None).status_code == 202  # curl, servers: no Origin at all


def test_cors_preflight_only_for_configured_origins(client: httpx.Client) -> None:
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key"}
    ok = client.options("/v1/analyses", headers={"Origin": ALLOWED, **ask})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == ALLOWED
    assert "x-api-key" in ok.headers["access-control-allow-headers"].lower()
    bad = client.options("/v1/analyses", headers={"Origin": "https://evil.example", **ask})
    assert bad.status_code in (400, 403) and "access-control-allow-origin" not in bad.headers


def test_security_headers_and_no_server_header(client: httpx.Client) -> None:
    for path in ("/v1/health", "/v1/analyses", "/v1/nope", "/docs", "/v1/whip/publish.html"):
        response = client.get(path)
        assert "server" not in response.headers, (path, response.headers.get("server"))
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["referrer-policy"] == "no-referrer", path
    for page in ("/docs", "/v1/whip/publish.html"):
        csp = client.get(page).headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, csp


def test_system_hides_paths_and_versions_from_anonymous(client: httpx.Client) -> None:
    body = client.get("/v1/system").text
    assert str(Path.home()) not in body and "/work/" not in body
    data = client.get("/v1/system").json()
    assert data["engines_dir"] is None and data["machine"] is None
    assert all(b["version"] is None for b in data["backends"])
    assert all(m["description"] == {} and (m["engine"] is None or m["engine"]["path"] is None) for m in data["models"])


def test_admin_sees_the_full_system_report(tmp_path: Path) -> None:
    settings = Settings(work_dir=tmp_path, api_keys="ops@admin:adm-key,eve@viewer:view-key", live_enabled=False)
    with running_api(create_app(settings, run_worker=False)) as base, httpx.Client(base_url=base) as c:
        full = c.get("/v1/system", headers={"X-API-Key": "adm-key"}).json()
        assert full["engines_dir"] == str(settings.engines_path) and full["machine"]["python"]
        limited = c.get("/v1/system", headers={"X-API-Key": "view-key"}).json()
        assert limited["engines_dir"] is None and limited["machine"] is None


def test_oversized_header_gets_the_json_error_shape(client: httpx.Client) -> None:
    """uvicorn refuses a huge header itself (before the app); our protocol class answers in the one shape."""
    url = urlsplit(str(client.base_url))
    request = (f"GET /v1/health HTTP/1.1\r\nHost: {url.netloc}\r\nX-Big: {'a' * 1_000_000}\r\n\r\n").encode()
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # it may answer and close early
            sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 4"), head
    assert b"content-type: application/json" in head.lower(), head
    assert b"server:" not in head.lower()
    error = json.loads(body)["error"]
    assert error["code"] in ("bad_request", "header_too_large") and error["message"]
