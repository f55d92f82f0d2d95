"""Shared pieces of the WHIP tests: a recording sink/opener, the test app, and aiortc publishing helpers.

Run as a script (``python tests/whip_helpers.py URL CLIP``) it is the publisher that one test kills without a
word, to prove a vanished peer is noticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framesentry.config import Settings
from framesentry.errors import AuthError

KEY = "studio-a"

# --- a sink and an opener that record what the hub gives them -------------------------------------------


@dataclass
class RecordingSink:
    """Keeps frame times and shapes; thread-safe because the test reads it from another thread."""

    key: str
    video: list[tuple[float | None, int, int]] = field(default_factory=list)
    audio: list[tuple[float | None, int, int]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)

    def push_video(self, frame: Any) -> None:
        import av

        assert isinstance(frame, av.VideoFrame)
        self.video.append((frame.time, frame.width, frame.height))

    def push_audio(self, frame: Any) -> None:
        import av

        assert isinstance(frame, av.AudioFrame)
        self.audio.append((frame.time, frame.sample_rate, frame.samples))

    def close(self, reason: str) -> None:
        self.reasons.append(reason)
        self.closed.set()


class RecordingOpener:
    """Knows a fixed set of stream keys; every sink it opened is kept, newest last."""

    def __init__(self, keys: set[str]) -> None:
        self.keys = keys
        self.sinks: list[RecordingSink] = []

    def __call__(self, key: str, source: str) -> RecordingSink:
        assert source == "whip"
        if key not in self.keys:
            raise AuthError("Unknown stream key.")
        sink = RecordingSink(key)
        self.sinks.append(sink)
        return sink


# --- a real server ------------------------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    opener: RecordingOpener
    hub: Any


def _app(settings: Settings, opener: RecordingOpener) -> Any:
    from fastapi import APIRouter, FastAPI

    from framesentry.api import errors
    from framesentry.api.routers import whip
    from framesentry.stream.whip import WhipHub

    hub = WhipHub(settings, opener)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await hub.close_all()

    app = FastAPI(lifespan=lifespan)
    errors.install(app)
    v1 = APIRouter(prefix="/v1")
    v1.include_router(whip.router)
    app.include_router(v1)
    app.state.whip = hub
    # The WHIP routes authorise the caller (keys off here: anonymous) through the app's services.
    from framesentry.api.services import Services

    app.state.services = Services(settings.model_copy(update={"live_enabled": False}), run_worker=False)
    return app


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


def stream_times(records: list[tuple[float | None, int, int]]) -> list[float]:
    """The recorded ``frame.time`` values; every frame from the hub must carry one."""
    times = [t for t, _, _ in records]
    assert all(t is not None for t in times), "a frame without stream time"
    return [float(t) for t in times if t is not None]


def increasing(values: list[float]) -> bool:
    return all(b > a for a, b in itertools.pairwise(values))


# --- an aiortc publisher ------------------------------------------------------------------------------------


async def _offer(clip: Path) -> tuple[Any, Any]:
    """A sending peer connection playing ``clip`` (real time), with its complete offer set."""
    from aiortc import RTCConfiguration, RTCPeerConnection
    from aiortc.contrib.media import MediaPlayer

    player = MediaPlayer(str(clip))
    pc = RTCPeerConnection(configuration=RTCConfiguration(iceServers=[]))
    for track in (player.video, player.audio):
        if track is not None:
            pc.addTransceiver(track, direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())  # aiortc gathers fully before returning
    return pc, player


async def _post_offer(url: str, sdp: str) -> Any:
    import httpx

    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(url, content=sdp, headers={"Content-Type": "application/sdp"})


async def _publish(
    base: str, clip: Path, until: Callable[[], bool], *, key: str = KEY, delete: bool = True
) -> dict[str, Any]:
    """Publish ``clip`` until ``until()`` holds (at most 20 s), then DELETE the session (if asked) and hang up."""
    import httpx
    from aiortc import RTCSessionDescription

    pc, player = await _offer(clip)
    try:
        resp = await _post_offer(f"{base}/v1/whip/{key}", pc.localDescription.sdp)
        assert resp.status_code == 201, resp.text
        await pc.setRemoteDescription(RTCSessionDescription(sdp=resp.text, type="answer"))
        deadline = time.monotonic() + 20
        while not until() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        out: dict[str, Any] = {"post": resp, "connection": pc.connectionState}
        if delete:
            async with httpx.AsyncClient(timeout=10) as client:
                out["delete"] = await client.delete(base + resp.headers["location"])
                out["delete_again"] = await client.delete(base + resp.headers["location"])
        return out
    finally:
        await pc.close()
        for track in (player.video, player.audio):
            if track is not None:
                track.stop()


# --- tests --------------------------------------------------------------------------------------------------

# --- the vanishing publisher, run as a script ---------------------------------------------------------------


async def _publish_forever(base: str, clip: str) -> None:
    """Publish and never hang up: the test kills this process."""
    from aiortc import RTCSessionDescription

    pc, _player = await _offer(Path(clip))
    resp = await _post_offer(f"{base}/v1/whip/{KEY}", pc.localDescription.sdp)
    assert resp.status_code == 201, resp.text
    await pc.setRemoteDescription(RTCSessionDescription(sdp=resp.text, type="answer"))
    print("published", flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(_publish_forever(sys.argv[1], sys.argv[2]))
