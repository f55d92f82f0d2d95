"""Clients for the live end-to-end tests: an ffmpeg RTMP publisher, an aiortc WHIP publisher, a score reader."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from service_helpers import wait_for


def ffmpeg_publish(clip: Path, url: str, *, realtime: bool = True) -> subprocess.Popen[bytes]:
    """The ffmpeg CLI publishing a clip over RTMP the way OBS would (H.264 + AAC in FLV)."""
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin"]
    if realtime:
        args.append("-re")
    args += ["-i", str(clip), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30",
             "-c:a", "aac", "-ar", "44100", "-f", "flv", url]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def create_stream(client: httpx.Client, name: str) -> dict[str, Any]:
    res = client.post("/v1/streams", json={"name": name})
    assert res.status_code == 201, res.text
    body: dict[str, Any] = res.json()
    return body


def live_stream_of(client: httpx.Client, key_id: int, timeout_s: float = 30.0) -> str:
    """Id of the live session a publisher opened on ``key_id``."""

    def find() -> str | None:
        items = client.get("/v1/streams", params={"key_id": key_id, "state": "live"}).json()["items"]
        return items[0]["id"] if items else None

    found: str = wait_for(find, timeout_s, f"a live stream on key {key_id}", interval_s=0.05)
    return found


@dataclass
class ScoreReader:
    """Reads ``/v1/streams/{id}/scores`` on a thread until the stream ends (or ``stop``)."""

    url: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    error: BaseException | None = None
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> ScoreReader:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        from websockets.sync.client import connect

        try:
            with connect(self.url, open_timeout=10) as ws:
                while not self._stop.is_set():
                    try:
                        raw = ws.recv(timeout=0.5)
                    except TimeoutError:
                        continue
                    message = json.loads(raw)
                    self.messages.append(message)
                    if message["type"] in ("end", "error"):
                        return
        except Exception as exc:  # surfaced by the test's assertions
            self.error = exc

    def join(self, timeout_s: float) -> None:
        assert self._thread is not None
        self._thread.join(timeout_s)
        self._stop.set()
        self._thread.join(5)

    @property
    def scores(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == "score"]


def ws_url(base: str, stream_id: str) -> str:
    return base.replace("http://", "ws://") + f"/v1/streams/{stream_id}/scores"


async def whip_publish(whip_url: str, clip: Path, seconds: float) -> dict[str, Any]:
    """An aiortc peer publishing ``clip`` (video + audio) over WHIP for ``seconds``, then DELETE."""
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.contrib.media import MediaPlayer

    player = MediaPlayer(str(clip))
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    for track in (player.video, player.audio):
        if track is not None:
            pc.addTrack(track)
    await pc.setLocalDescription(await pc.createOffer())
    async with httpx.AsyncClient(timeout=30) as client:
        res = await client.post(whip_url, content=pc.localDescription.sdp,
                                headers={"Content-Type": "application/sdp"})
        assert res.status_code == 201, res.text
        await pc.setRemoteDescription(RTCSessionDescription(res.text, "answer"))
        location = res.headers["location"]
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            await asyncio.sleep(0.2)
        state = pc.connectionState
        deleted = await client.delete(str(httpx.URL(whip_url).join(location)))
    await pc.close()
    return {"connection_state": state, "delete_status": deleted.status_code, "location": location}
