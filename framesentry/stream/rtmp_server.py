"""RTMP ingest: an asyncio listener that accepts many publishers at ``rtmp://host:port/<app>/<stream key>``.

Why an asyncio server of our own (wire format in ``rtmp_chunks``) and not one of the two ready options,
measured here on a 3 s 640x360 H.264/AAC clip published by the ``ffmpeg`` CLI:

- FFmpeg's own listener (PyAV ``av.open("rtmp://...", options={"listen": "1"})``) serves one connection per
  open call and port, blocks a thread from accept to end, and accepts any stream name: a publisher with a
  wrong key streamed its whole clip (ffmpeg exit 0) before we could look at the key. A clean end and a
  vanished publisher both surface as the same ``EIO``, so "ended" and "disconnected" cannot be told apart.
- pyrtmp 0.3.1 has the right model (asyncio, many connections, ``publish`` seen before media; its parser
  cost ~0.075 s CPU for the 3 s clip), but its chunk reader mis-times type-3 headers that start a message and
  skips extended timestamps on continuation chunks (details in ``rtmp_chunks``), its ``rtmp`` module calls
  ``logging.basicConfig(DEBUG)`` on import, and unknown message types raise ``NotImplementedError``.

So the protocol is ~250 lines here (handshake, chunk reassembly, AMF0), media goes straight from RTMP
messages into PyAV codec contexts (``rtmp_flv``) on one worker thread per publisher (``rtmp_session``), and
the key is checked with the ``SinkOpener`` when ``publish`` arrives, before any media is accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from framesentry.config import Settings
from framesentry.stream.rtmp_session import RtmpConnection
from framesentry.stream.source import SinkOpener

log = logging.getLogger(__name__)


class RtmpServer:
    """The RTMP listener of one process. Start and stop it on the event loop it should serve from."""

    def __init__(self, settings: Settings, opener: SinkOpener) -> None:
        self._settings = settings
        self._opener = opener
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[Any], RtmpConnection] = {}
        self._publishers: dict[str, RtmpConnection] = {}
        self._totals = {"connections": 0, "published": 0, "refused": 0, "failed": 0}

    async def start(self) -> None:
        """Bind and start accepting (raises ``OSError`` if the address is taken)."""
        if self._server is not None:
            raise RuntimeError("RtmpServer already started")
        self._server = await asyncio.start_server(
            self._serve, self._settings.rtmp_host, self._settings.rtmp_port, reuse_address=True
        )
        log.info(
            "RTMP ingest listening on rtmp://%s:%d/%s/<key>",
            self._settings.rtmp_host,
            self.port,
            self._settings.rtmp_app,
        )

    async def stop(self) -> None:
        """Stop accepting, end every connection (sinks close with ``"error: server stopped"``) and wait."""
        if self._server is None:
            return
        self._server.close()
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 2.0)
        self._server = None

    @property
    def port(self) -> int:
        """The bound port (useful with ``rtmp_port=0``)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("RtmpServer is not started")
        return int(self._server.sockets[0].getsockname()[1])

    def stats(self) -> dict[str, Any]:
        """Connections open now, publishers by key with their counters, and totals since start."""
        return {
            "connections": len(self._connections),
            "publishers": len(self._publishers),
            "streams": {
                key: {
                    "peer": conn.stats.peer,
                    "started": conn.stats.started,
                    "bytes": conn.stats.bytes,
                    "video_frames": conn.stats.video_frames,
                    "audio_frames": conn.stats.audio_frames,
                }
                for key, conn in self._publishers.items()
                if conn.stats is not None
            },
            "totals": dict(self._totals),
        }

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        conn = RtmpConnection(self._settings, self._opener, self._publishers, reader, writer)
        self._connections[task] = conn
        self._totals["connections"] += 1
        try:
            reason = await conn.run()
        finally:
            del self._connections[task]
        if conn.stats is not None:
            self._totals["published"] += 1
        if reason.startswith("refused"):
            self._totals["refused"] += 1
        elif reason.startswith("error"):
            self._totals["failed"] += 1
