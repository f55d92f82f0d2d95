"""One WHIP publisher: its aiortc peer connection, the tasks that move its frames into a ``FrameSink``, and
the watchdog that notices when it goes quiet.

A session ends exactly once, for the first reason that comes up (``"ended"``: DELETE or the tracks ended;
``"disconnected"``: ICE/DTLS failed or the peer closed the connection; ``"stalled"``: no media for
``whip_stall_timeout_s``; ``"error: ..."``: the sink refused a frame). The sink is told first, then the peer
connection is closed and the session calls ``on_closed`` so its hub can forget it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from framesentry.errors import FrameSentryError
from framesentry.stream.source import FrameSink
from framesentry.stream.whip_clock import TrackClock

if TYPE_CHECKING:
    from aiortc import MediaStreamTrack, RTCPeerConnection

log = logging.getLogger(__name__)


class WhipSession:
    """Owns one peer connection from the moment its offer is accepted until it is closed."""

    def __init__(
        self,
        resource_id: str,
        key: str,
        pc: RTCPeerConnection,
        sink: FrameSink,
        stall_timeout_s: float,
        on_closed: Callable[[WhipSession], None],
    ) -> None:
        self.id = resource_id
        self.key = key
        self.pc = pc
        self.sink = sink
        self.started = time.monotonic()
        self.last_media = self.started
        self.frames = {"video": 0, "audio": 0}
        self.close_reason: str | None = None
        self._stall_timeout_s = stall_timeout_s
        self._on_closed = on_closed
        self._tasks: set[asyncio.Task[None]] = set()
        self._live_tracks = 0
        self._done = asyncio.Event()
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", self._on_connection_state)

    # -- wiring ---------------------------------------------------------------------------------------

    def start_watchdog(self) -> None:
        """Begin counting silence; called once the answer is sent (the peer can only start connecting then)."""
        self.last_media = time.monotonic()
        self._spawn(self._watchdog(), "watchdog")

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(f"whip-{self.id[:8]}-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind not in ("audio", "video"):
            return
        self._live_tracks += 1
        self._spawn(self._pump(track), track.kind)

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        log.info("whip %s: connection %s", self.id[:8], state)
        if state in ("failed", "closed") and self.close_reason is None:
            self._spawn(self.close("disconnected"), "close")

    # -- media ----------------------------------------------------------------------------------------

    async def _pump(self, track: MediaStreamTrack) -> None:
        """Move decoded frames of one track into the sink until the track ends."""
        import av
        from aiortc.mediastreams import MediaStreamError

        clock = TrackClock(self.started)
        kind = track.kind
        while self.close_reason is None:
            try:
                frame = await track.recv()
            except MediaStreamError:
                break
            self.last_media = time.monotonic()
            if not isinstance(frame, av.VideoFrame | av.AudioFrame):
                continue
            clock.stamp(frame)
            try:
                if isinstance(frame, av.VideoFrame):
                    self.sink.push_video(frame)
                else:
                    self.sink.push_audio(frame)
            except FrameSentryError as exc:  # an expected refusal, e.g. the stream was stopped through the API
                log.info("whip %s: sink refused a %s frame: %s", self.id[:8], kind, exc.message)
                await self.close(f"error: {exc.message}")
                return
            except Exception as exc:
                log.exception("whip %s: sink refused a %s frame", self.id[:8], kind)
                await self.close(f"error: {type(exc).__name__}: {exc}")
                return
            self.frames[kind] += 1
        self._live_tracks -= 1
        if self._live_tracks <= 0 and self.close_reason is None:
            await self.close("ended")

    async def _watchdog(self) -> None:
        """Close a publisher that sends nothing for ``stall_timeout_s`` (it may have vanished without a word)."""
        period = min(1.0, self._stall_timeout_s / 4)
        while self.close_reason is None:
            await asyncio.sleep(period)
            if time.monotonic() - self.last_media > self._stall_timeout_s:
                await self.close("stalled")
                return

    # -- ending ---------------------------------------------------------------------------------------

    async def close(self, reason: str) -> None:
        """End the session (idempotent): tell the sink, stop the tasks, close the peer connection."""
        if self.close_reason is not None:
            await self._done.wait()
            return
        self.close_reason = reason
        log.info("whip %s: closing (%s) after %s", self.id[:8], reason, self.frames)
        try:
            self.sink.close(reason)
        except Exception:
            log.exception("whip %s: sink.close failed", self.id[:8])
        current = asyncio.current_task()
        others = [t for t in self._tasks if t is not current]
        for task in others:
            task.cancel()
        for task in others:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        try:
            await self.pc.close()
        except Exception:
            log.exception("whip %s: closing the peer connection failed", self.id[:8])
        self._on_closed(self)
        self._done.set()

    def stats(self) -> dict[str, Any]:
        now = time.monotonic()
        return {
            "id": self.id,
            "connection": self.pc.connectionState,
            "video_frames": self.frames["video"],
            "audio_frames": self.frames["audio"],
            "age_s": round(now - self.started, 3),
            "idle_s": round(now - self.last_media, 3),
        }
