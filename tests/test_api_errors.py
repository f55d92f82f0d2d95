"""API requests that must be refused, each with a clear 4xx JSON error in the one error shape (never a 500),
and the happy-path upload contract (202, stored file, hash, links) without a worker running."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_helpers import free_port, running_api

from framesentry.api.app import create_app
from framesentry.config import Settings

MAX_BYTES = 2_000_000


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("api-errors")


@contextmanager
def api(settings: Settings) -> Iterator[httpx.Client]:
    """The real app on a loopback port (no worker: these tests are about the HTTP contract)."""
    with running_api(create_app(settings, run_worker=False)) as base, httpx.Client(base_url=base, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def client(work: Path) -> Iterator[httpx.Client]:
    with api(Settings(work_dir=work, max_file_bytes=MAX_BYTES, upload_chunk_bytes=64 * 1024)) as c:
        yield c


def error_of(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is ``status`` with exactly the API's error shape and ``code``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return dict(body["error"])


def post_file(client: httpx.Client, path: Path, content_type: str = "video/mp4", **data: str) -> Any:
    with path.open("rb") as fh:
        return client.post("/v1/analyses", files={"file": (path.name, fh, content_type)}, data=data or None)


def staging_empty(work: Path) -> bool:
    staging = work / "service" / "media" / ".staging"
    return not staging.exists() or not any(staging.iterdir())


def test_upload_accepted(client: httpx.Client, clip_faces_speech: Path, work: Path) -> None:
    """202 with id, links and Location; the file is stored once, hashed, probed; GET/list/DELETE work."""
    response = post_file(client, clip_faces_speech)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued" and response.headers["location"] == body["links"]["self"]
    assert body["video"]["sha256"] == hashlib.sha256(clip_faces_speech.read_bytes()).hexdigest()
    assert body["video"]["has_video"] and body["video"]["has_audio"] and body["video"]["width"] == 640
    assert body["video"]["filename"] == clip_faces_speech.name
    stored = list((work / "service" / "media" / "videos").iterdir())
    assert any(p.read_bytes() == clip_faces_speech.read_bytes() for p in stored)
    assert staging_empty(work)
    got = client.get(body["links"]["self"]).json()
    assert got["id"] == body["id"] and got["result"] is None
    assert body["id"] in [item["id"] for item in client.get("/v1/analyses?status=queued").json()["items"]]
    assert client.delete(body["links"]["self"]).status_code == 204
    error_of(client.get(body["links"]["self"]), 404, "not_found")
    assert not any(p.read_bytes() == clip_faces_speech.read_bytes() for p in (work / "service/media/videos").iterdir())


def test_oversize_by_content_length(client: httpx.Client, clip_faces_speech: Path, tmp_path: Path, work: Path) -> None:
    big = tmp_path / "big.mp4"
    big.write_bytes(clip_faces_speech.read_bytes() + b"\0" * MAX_BYTES)
    error_of(post_file(client, big), 413, "over_limit")
    assert staging_empty(work)


def test_oversize_while_streaming(client: httpx.Client, clip_faces_speech: Path, work: Path) -> None:
    """No Content-Length (chunked): the cap is enforced as bytes arrive, and the partial file is removed."""
    head = clip_faces_speech.read_bytes()[:4096]
    boundary = "fsboundary"

    def body() -> Iterator[bytes]:
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.mp4\"\r\n"
               f"Content-Type: video/mp4\r\n\r\n").encode() + head
        for _ in range(40):
            yield b"\0" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.post("/v1/analyses", content=body(),
                           headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert "content-length" not in {k.lower() for k in response.request.headers}
    error_of(response, 413, "over_limit")
    assert staging_empty(work)


def test_declared_wrong_type(client: httpx.Client, clip_faces_speech: Path) -> None:
    error_of(post_file(client, clip_faces_speech, content_type="text/plain"), 415, "unsupported_media_type")


def test_sniffed_wrong_type(client: httpx.Client, not_media_file: Path, garbage_with_media_extension: Path) -> None:
    """A PDF or random bytes sent as a generic binary are refused from their first bytes."""
    details = error_of(post_file(client, not_media_file, "application/octet-stream"), 415, "unsupported_media_type")
    assert "press_release.pdf" in details["message"]
    error_of(post_file(client, garbage_with_media_extension, "video/mp4"), 415, "unsupported_media_type")


def test_not_multipart(client: httpx.Client) -> None:
    error_of(client.post("/v1/analyses", json={"file": "x"}), 415, "unsupported_media_type")


def test_corrupt_and_empty_media(client: httpx.Client, truncated_clip: Path, empty_file: Path, work: Path) -> None:
    error_of(post_file(client, truncated_clip), 422, "corrupt_media")
    error_of(post_file(client, empty_file), 422, "empty_file")
    assert staging_empty(work)


@pytest.mark.parametrize("url", ["ftp://example.com/x", "not a url", "http://user:pw@example.com/h", "http:///x",
                                 "http://example.com:99999/"])
def test_bad_callback_url(client: httpx.Client, clip_faces_speech: Path, url: str, work: Path) -> None:
    error_of(post_file(client, clip_faces_speech, callback_url=url), 422, "invalid_callback_url")
    assert staging_empty(work)


def test_bad_form(client: httpx.Client, clip_faces_speech: Path) -> None:
    details = error_of(post_file(client, clip_faces_speech, colour="red"), 422, "invalid_request")
    assert details["details"]["allowed"] == ["file", "callback_url"]
    error_of(client.post("/v1/analyses", data={"callback_url": "http://example.com/"},
                         files={"other": ("x.txt", b"x", "text/plain")}), 422, "invalid_request")
    error_of(client.post("/v1/analyses", files={"callback_url": (None, "http://example.com/")}), 422,
             "invalid_request")


def test_unknown_ids_and_routes(client: httpx.Client) -> None:
    error_of(client.get("/v1/analyses/00000000-0000-0000-0000-000000000000"), 404, "not_found")
    error_of(client.get("/v1/analyses/not-a-uuid"), 404, "not_found")
    error_of(client.delete("/v1/analyses/00000000-0000-0000-0000-000000000000"), 404, "not_found")
    error_of(client.get("/v1/nothing-here"), 404, "not_found")
    error_of(client.put("/v1/analyses"), 405, "method_not_allowed")


def test_validation_errors_share_the_shape(client: httpx.Client) -> None:
    details = error_of(client.get("/v1/analyses?limit=0"), 422, "validation_error")
    assert details["details"]["problems"][0]["location"] == ["query", "limit"]
    error_of(client.get("/v1/analyses?status=sleeping"), 422, "validation_error")
    error_of(client.get("/v1/analyses?sha256=xyz"), 422, "validation_error")


def test_idempotency_key(client: httpx.Client, clip_faces_speech: Path, truncated_clip: Path, tmp_path: Path) -> None:
    """Same key + same file -> the same analysis (one job); same key + another file -> 409."""
    headers = {"Idempotency-Key": "upload-42"}
    with clip_faces_speech.open("rb") as fh:
        first = client.post("/v1/analyses", files={"file": ("a.mp4", fh, "video/mp4")}, headers=headers)
    with clip_faces_speech.open("rb") as fh:
        again = client.post("/v1/analyses", files={"file": ("a.mp4", fh, "video/mp4")}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"] and again.headers["idempotent-replayed"] == "true"
    sha = first.json()["video"]["sha256"]
    assert client.get(f"/v1/analyses?sha256={sha}").json()["total"] >= 1
    other = tmp_path / "other.mp4"
    other.write_bytes(clip_faces_speech.read_bytes()[:-1] + b"\1")
    with other.open("rb") as fh:
        conflict = client.post("/v1/analyses", files={"file": ("b.mp4", fh, "video/mp4")}, headers=headers)
    error_of(conflict, 409, "conflict")


def test_api_keys(tmp_path: Path, clip_faces_speech: Path) -> None:
    """With keys configured: 401 without or with a wrong key; each user sees only their own analyses."""
    settings = Settings(work_dir=tmp_path, api_keys="alice:key-a,bob:key-b")
    with api(settings) as c:
        error_of(c.get("/v1/analyses"), 401, "unauthorized")
        error_of(c.get("/v1/analyses", headers={"X-API-Key": "wrong"}), 401, "unauthorized")
        with clip_faces_speech.open("rb") as fh:
            created = c.post("/v1/analyses", files={"file": ("a.mp4", fh, "video/mp4")}, headers={"X-API-Key": "key-a"})
        assert created.status_code == 202, created.text
        link = created.json()["links"]["self"]
        assert c.get(link, headers={"X-API-Key": "key-a"}).status_code == 200
        error_of(c.get(link, headers={"X-API-Key": "key-b"}), 404, "not_found")
        assert c.get("/v1/analyses", headers={"X-API-Key": "key-b"}).json()["total"] == 0
        assert c.get("/v1/health").json()["auth"] is True


def test_queue_down_is_503_and_keeps_nothing(tmp_path: Path, clip_faces_speech: Path) -> None:
    """A broker that cannot be reached: a clear 503, and neither a row nor a file is left behind."""
    settings = Settings(work_dir=tmp_path, broker_url=f"redis://127.0.0.1:{free_port()}/0")
    with api(settings) as c:
        error_of(post_file(c, clip_faces_speech), 503, "service_unavailable")
        assert c.get("/v1/analyses").json()["total"] == 0
    videos = tmp_path / "service" / "media" / "videos"
    assert not videos.exists() or not any(videos.iterdir())
    assert staging_empty(tmp_path)
