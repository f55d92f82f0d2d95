"""Finding 6: rate limits and quotas per key (Redis in the distributed mode, memory when embedded), brute-force
protection on wrong keys, decoded-pixel caps on uploads, and webhooks that cannot hold an analysis worker.

Each answer over a limit is 429 in the one error shape with Retry-After. The Redis test runs two API instances
on one Redis: the limit is shared, as it is between replicas.
"""

from __future__ import annotations

import http.server
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_helpers import RedisSpace, ScriptedAnalyzer, finished, free_port, poll_until, running_api, upload

from framesentry.api.app import create_app
from framesentry.config import Settings

pytest_plugins = ["conftest_service"]

KEYS = "ann@analyst:key-a,bob@analyst:key-b"


@contextmanager
def api(settings: Settings, **kwargs: Any) -> Iterator[httpx.Client]:
    with running_api(create_app(settings, run_worker=kwargs.pop("run_worker", False), **kwargs)) as base, \
            httpx.Client(base_url=base, timeout=60) as client:
        yield client


def too_many(response: httpx.Response, code: str = "too_many_requests") -> bool:
    if response.status_code != 429:
        return False
    assert response.json()["error"]["code"] == code, response.text
    assert int(response.headers["retry-after"]) >= 1
    return True


def test_rate_limit_per_key_in_memory(tmp_path: Path) -> None:
    settings = Settings(work_dir=tmp_path, api_keys=KEYS, rate_limit="10/minute", live_enabled=False)
    with api(settings) as c:
        answers = [c.get("/v1/analyses", headers={"X-API-Key": "key-a"}) for _ in range(14)]
        assert [r.status_code for r in answers[:10]] == [200] * 10
        assert all(too_many(r) for r in answers[10:])
        assert c.get("/v1/analyses", headers={"X-API-Key": "key-b"}).status_code == 200  # per key


def test_default_limits_stop_a_burst(tmp_path: Path) -> None:
    """The issue's probe: 300 requests in a few seconds with one key were all answered 200. (The tests' conftest
    turns limits off by default, so the shipped default is set here from the field itself.)"""
    default = Settings.model_fields["rate_limit"].default
    with api(Settings(work_dir=tmp_path, api_keys=KEYS, live_enabled=False, rate_limit=default)) as c:
        codes = [c.get("/v1/analyses", headers={"X-API-Key": "key-a"}).status_code for _ in range(300)]
    assert codes.count(200) >= 20 and codes.count(429) > 0, {s: codes.count(s) for s in set(codes)}


def test_rate_limit_is_shared_through_redis(tmp_path: Path, redis_space: RedisSpace) -> None:
    settings = Settings(work_dir=tmp_path, api_keys=KEYS, rate_limit="6/minute", live_enabled=False,
                        broker_url=redis_space.url, broker_key_prefix=redis_space.prefix,
                        queue_name=redis_space.queue)
    with api(settings) as one, api(settings) as two:
        codes = [(one if i % 2 else two).get("/v1/analyses", headers={"X-API-Key": "key-a"}) for i in range(9)]
    assert [r.status_code for r in codes[:6]] == [200] * 6 and all(too_many(r) for r in codes[6:])


def test_wrong_keys_are_throttled_per_address(tmp_path: Path) -> None:
    settings = Settings(work_dir=tmp_path, api_keys=KEYS, auth_failures_per_minute=5, live_enabled=False)
    with api(settings) as c:
        answers = [c.get("/v1/analyses", headers={"X-API-Key": f"guess-{i}"}) for i in range(12)]
        assert [r.status_code for r in answers[:5]] == [401] * 5
        assert all(too_many(r) for r in answers[5:])
        assert too_many(c.get("/v1/analyses", headers={"X-API-Key": "key-a"}))  # the address is blocked a while


def test_daily_upload_quota_per_key(tmp_path: Path, clip_faces_speech: Path) -> None:
    settings = Settings(work_dir=tmp_path, api_keys=KEYS, upload_quota_per_day=2, live_enabled=False)
    with api(settings) as c:
        def send(key: str) -> httpx.Response:
            with clip_faces_speech.open("rb") as fh:
                return c.post("/v1/analyses", files={"file": ("a.mp4", fh, "video/mp4")}, headers={"X-API-Key": key})

        assert [send("key-a").status_code for _ in range(2)] == [202, 202]
        assert too_many(send("key-a"), "quota_exceeded")
        assert send("key-b").status_code == 202


@pytest.fixture(scope="module")
def clip_8k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s of 7680x4320 at 30 fps: small on disk, ~1 G decoded pixels per second."""
    path = tmp_path_factory.mktemp("8k") / "8k.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=gray:s=7680x4320:r=30:d=2",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)], check=True,
                   timeout=300)
    return path


def test_decoded_pixel_caps(tmp_path: Path, clip_8k: Path, clip_faces_speech: Path) -> None:
    """The issue's 7680x4320 clip is under the byte, size and duration caps; its pixel rate is not."""
    assert clip_8k.stat().st_size < 2_000_000
    with api(Settings(work_dir=tmp_path, live_enabled=False)) as c:
        refused = upload(c, clip_8k)
        assert refused.status_code == 413, refused.text
        assert refused.json()["error"]["details"]["limit_pixels_per_s"] > 0
    # The total budget: 640x360 at 30 fps for 6 s is ~41.5 M pixels.
    with api(Settings(work_dir=tmp_path / "t", live_enabled=False, max_total_pixels=20_000_000)) as c:
        refused = upload(c, clip_faces_speech)
        assert refused.status_code == 413 and refused.json()["error"]["details"]["limit_total_pixels"] == 20_000_000


def test_slow_webhook_does_not_hold_an_analysis_worker(tmp_path: Path, clip_faces_speech: Path) -> None:
    """One analysis worker (embedded, solo): a callback that takes 6 s to answer must not delay the next job."""
    port = free_port()
    answered: list[float] = []

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            time.sleep(6)
            self.send_response(204)
            self.end_headers()
            answered.append(time.monotonic())

        def log_message(self, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings = Settings(work_dir=tmp_path, webhook_allowed_networks="127.0.0.1/32", live_enabled=False,
                        queue_name=f"test-{uuid.uuid4().hex[:8]}")
    try:
        with api(settings, run_worker=True, analyzer=ScriptedAnalyzer(steps=1, step_s=0.01)) as c:
            first = upload(c, clip_faces_speech, callback_url=f"http://127.0.0.1:{port}/hook").json()["id"]
            poll_until(c, first, finished, 30)
            time.sleep(0.5)  # the webhook is now being delivered (6 s)
            second = upload(c, clip_faces_speech).json()["id"]
            started = time.monotonic()
            assert poll_until(c, second, finished, 30)["status"] == "done"
            assert time.monotonic() - started < 3.0, "the next job waited for the slow callback"
            assert not answered  # and the callback was still being answered meanwhile
    finally:
        server.shutdown()
        server.server_close()
