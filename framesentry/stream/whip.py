"""WHIP (RFC 9725) ingest: a publisher POSTs an SDP offer, gets an answer, and sends WebRTC media to us.

``WhipHub`` is the server side of it, free of HTTP: the API router turns requests into ``publish``/``delete``
calls. aiortc does not trickle, so the answer is returned only once ICE gathering is complete and carries every
candidate; no STUN/TURN server is configured (``iceServers=[]``), so only host candidates are offered, which
suits publishers on the same network. Each publisher becomes a ``WhipSession`` feeding a ``FrameSink``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from framesentry.config import Settings
from framesentry.errors import NotFoundError, SdpError
from framesentry.stream.source import FrameSink, SinkOpener
from framesentry.stream.whip_sdp import sending_kinds
from framesentry.stream.whip_session import WhipSession

log = logging.getLogger(__name__)

SOURCE = "whip"


@dataclass(frozen=True)
class WhipResource:
    """What a successful publish answers: the session's id (its URL), the SDP answer and its entity tag, and the
    live stream it feeds (when the sink is one), so the publisher can follow its own scores."""

    id: str
    answer_sdp: str
    etag: str
    stream_id: str | None = None


class WhipHub:
    """All WHIP sessions of one server. Must be used from one asyncio event loop (the server's)."""

    def __init__(self, settings: Settings, opener: SinkOpener) -> None:
        self._settings = settings
        self._opener = opener
        self._sessions: dict[str, WhipSession] = {}
        self._counts: Counter[str] = Counter()
        self._closed_reasons: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()

    async def publish(self, key: str, offer_sdp: str) -> WhipResource:
        """Accept a publisher: check its key (``AuthError``), answer its offer (``SdpError`` if unusable).

        The sink is opened before the offer is read so that an unknown key is refused without spending
        anything on it; a refused offer then closes that sink with ``"error: ..."``.
        """
        self._counts["offers"] += 1
        # The opener checks the key in the database: off the event loop. If the client hangs up meanwhile,
        # the sink it opens anyway is closed as soon as it exists, never left live.
        opening = asyncio.get_running_loop().run_in_executor(None, self._opener, key, SOURCE)
        try:
            sink = await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(_close_abandoned)
            raise
        except Exception:
            self._counts["refused_key"] += 1
            raise
        try:
            sending_kinds(offer_sdp)
        except SdpError as exc:
            self._counts["refused_sdp"] += 1
            sink.close(f"error: {exc.message}")
            raise
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        pc = RTCPeerConnection(configuration=RTCConfiguration(iceServers=[]))
        session = WhipSession(
            uuid.uuid4().hex, key, pc, sink, self._settings.whip_stall_timeout_s, self._forget
        )
        self._sessions[session.id] = session
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            # setLocalDescription returns once ICE gathering is complete: the answer holds all candidates.
            await pc.setLocalDescription(await pc.createAnswer())
        except asyncio.CancelledError:  # the client went away while we gathered: do not leak the peer
            self._background(session.close("error: offer abandoned"))
            raise
        except Exception as exc:
            self._counts["refused_sdp"] += 1
            await session.close(f"error: {exc}")
            raise SdpError(f"The SDP offer cannot be answered: {exc}", reason=type(exc).__name__) from exc
        answer = pc.localDescription.sdp
        session.start_watchdog()
        self._counts["published"] += 1
        etag = '"' + hashlib.sha256(answer.encode()).hexdigest()[:16] + '"'
        log.info("whip %s: publishing (%d active)", session.id[:8], len(self._sessions))
        stream_id = getattr(sink, "id", None)  # a LiveSession's stream id; test sinks have none
        return WhipResource(id=session.id, answer_sdp=answer, etag=etag,
                            stream_id=str(stream_id) if stream_id is not None else None)

    async def delete(self, resource_id: str, key: str | None = None) -> None:
        """End a session as ``"ended"``; ``NotFoundError`` if there is none (or it belongs to another key)."""
        session = self._sessions.get(resource_id)
        if session is None or (key is not None and session.key != key):
            raise NotFoundError("No such WHIP session (it may have ended already).", resource_id=resource_id)
        await session.close("ended")

    async def close_all(self, reason: str = "ended") -> None:
        """End every session (server shutdown)."""
        sessions = list(self._sessions.values())
        await asyncio.gather(*(s.close(reason) for s in sessions), return_exceptions=True)

    def has(self, resource_id: str) -> bool:
        return resource_id in self._sessions

    def stats(self) -> dict[str, Any]:
        """Counters since start and one entry per active session (no stream keys: they are credentials)."""
        return {
            "active": len(self._sessions),
            "offers": self._counts["offers"],
            "published": self._counts["published"],
            "refused_key": self._counts["refused_key"],
            "refused_sdp": self._counts["refused_sdp"],
            "closed": dict(self._closed_reasons),
            "sessions": [s.stats() for s in self._sessions.values()],
        }

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _forget(self, session: WhipSession) -> None:
        if self._sessions.pop(session.id, None) is not None:
            reason = session.close_reason or "unknown"
            self._closed_reasons[reason.split(":", 1)[0]] += 1


def _close_abandoned(opening: asyncio.Future[FrameSink]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result().close("error: offer abandoned")
