"""Fault: the API (the live server) is killed while RTMP streams are live, comes back, publishers reconnect and
their streams resume (docs/LIVE.md, "When the server restarts").

`framesentry serve` (embedded mode, SQLite, fixed HTTP and RTMP ports) runs as a subprocess with three ffmpeg
publishers. Each publisher is wrapped in a retry loop, as OBS's "automatically reconnect" does (the ffmpeg CLI
itself does not reconnect an RTMP output: it exits when the connection drops). The server gets SIGKILL, is
started again, and each key must be live again with a new session that scores, while the old session is closed
(``server_restarted`` or ``replaced``) with its totals and score series kept.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from service_helpers import free_port, service_env, wait_for, wait_ready

pytest_plugins = ["conftest_service"]

pytestmark = pytest.mark.slow

STREAMS = 3


class ReconnectingPublisher:
    """ffmpeg publishing a looped FLV (stream copy); restarted 1 s after it exits, until ``stop``."""

    def __init__(self, clip: Path, url: str) -> None:
        self.clip, self.url = clip, url
        self.starts = 0
        self._stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._proc = subprocess.Popen(
                ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-stream_loop", "-1",
                 "-i", str(self.clip), "-c", "copy", "-f", "flv", self.url],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.starts += 1
            self._proc.wait()
            self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
        self._thread.join(15)


@pytest.fixture(scope="module")
def live_flv(media_dir: Path, real_faces: list[np.ndarray], speech: np.ndarray) -> Path:
    from framesentry.lab.samples import write_clip

    mp4 = write_clip(media_dir / "restart_live.mp4", duration_s=6.0, size=(320, 240), fps=15,
                     faces=[(real_faces[0], (100, 30, 140))], audio=speech)
    flv = media_dir / "restart_live.flv"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(mp4), "-c:v", "libx264",
                    "-preset", "ultrafast", "-g", "15", "-c:a", "aac", "-ar", "44100", "-f", "flv", str(flv)],
                   check=True)
    return flv


def live_sessions(client: httpx.Client, key_id: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.get("/v1/streams", params={"key_id": key_id, "limit": 100}).json()["items"]
    return items


def scoring_session(client: httpx.Client, key_id: int, not_id: str | None = None) -> dict[str, Any] | None:
    """The key's live session (other than ``not_id``) once it has scored a window."""
    for item in live_sessions(client, key_id):
        if item["state"] == "live" and item["id"] != not_id and item["windows_scored"] > 0:
            return item
    return None


def series_rows(client: httpx.Client, stream_id: str) -> int:
    series = client.get(f"/v1/streams/{stream_id}/series", params={"bucket": 1}).json()
    return sum(int(b["count"]) for b in series["buckets"])


def test_killed_server_comes_back_and_publishers_resume(tmp_path: Path, live_flv: Path, spawn: Any) -> None:
    port, rtmp_port = free_port(), free_port()
    env = service_env(work_dir=tmp_path, live_enabled="true", rtmp_port=rtmp_port, torch_threads=1,
                      log_format="json")
    server = spawn(["serve", "--port", str(port)], env, "serve")
    wait_ready(server, "Uvicorn running", timeout_s=180)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    keys = [client.post("/v1/streams", json={"name": f"restart-{i}"}).json() for i in range(STREAMS)]
    publishers = [ReconnectingPublisher(live_flv, f"rtmp://127.0.0.1:{rtmp_port}/live/{k['key']}") for k in keys]
    try:
        before = {k["id"]: wait_for(lambda k=k: scoring_session(client, k["id"]), 90, f"key {k['id']} scoring")
                  for k in keys}

        for old in before.values():  # some score rows flushed (every LIVE_SERIES_FLUSH_S) before the crash
            wait_for(lambda old=old: series_rows(client, old["id"]), 30, f"series rows of {old['id']}")
        server.kill_group()  # SIGKILL: no goodbye to the publishers, the rows stay 'live'
        wait_for(lambda: all(p.starts >= 2 for p in publishers), 30, "every publisher to notice and retry")

        server = spawn(["serve", "--port", str(port)], env, "serve-again")
        wait_ready(server, "Uvicorn running", timeout_s=180)
        t_up = time.monotonic()
        after = {k["id"]: wait_for(lambda k=k: scoring_session(client, k["id"], before[k["id"]]["id"]), 60,
                                   f"key {k['id']} to resume") for k in keys}
        resumed_in_s = time.monotonic() - t_up

        for key in keys:
            old, new = before[key["id"]], after[key["id"]]
            assert new["id"] != old["id"] and new["key_id"] == old["key_id"]
            sessions = {s["id"]: s for s in live_sessions(client, key["id"])}
            # Closed by whichever came first: the restarted server failing rows silent for 5 heartbeats at start,
            # or the publisher's reconnection replacing it.
            closed = (sessions[old["id"]]["state"], sessions[old["id"]]["end_reason"])
            assert closed in {("failed", "server_restarted"), ("ended", "replaced")}, closed
            assert sessions[old["id"]]["windows_scored"] > 0  # its numbers up to the last heartbeat are kept
            assert series_rows(client, old["id"]) > 0  # and so is its score series
            assert [s["state"] for s in sessions.values()].count("live") == 1
        # The publisher connections' JSON log lines carry the session they feed.
        logged = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
        for new in after.values():
            assert any(e.get("stream_id") == new["id"] and "RTMP publisher" in e["msg"] for e in logged), new["id"]
        metrics = client.get("/metrics").text
        assert f'framesentry_live_streams{{source="rtmp"}} {float(STREAMS)}' in metrics
        assert resumed_in_s < 60
    finally:
        for p in publishers:
            p.stop()
    for key in keys:  # a publisher that leaves for good ends its session normally
        wait_for(lambda key=key: all(s["state"] != "live" for s in live_sessions(client, key["id"])), 40,
                 f"key {key['id']} to end")
    client.close()
