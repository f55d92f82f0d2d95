"""One RTMP connection: handshake, the connect/createStream/publish dialogue, then one stream's media.

The stream key is checked (``SinkOpener``) when ``publish`` arrives, before any media is accepted; a refused
key gets an ``onStatus`` error and the connection is closed, which makes FFmpeg/OBS exit with an error.
Media messages are decoded and pushed to the sink on a worker thread owned by this connection, one message at
a time, so the event loop never decodes, a publisher outrunning its decoder is slowed by TCP, and a decoder
failure ends this connection only. The thread and the decoders are released when the connection ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from framesentry.config import Settings
from framesentry.errors import AuthError, FrameSentryError, RtmpProtocolError
from framesentry.obs import logs
from framesentry.stream import rtmp_amf as amf
from framesentry.stream import rtmp_chunks as wire
from framesentry.stream.rtmp_flv import FlvDecoder
from framesentry.stream.source import FrameSink, SinkOpener

log = logging.getLogger(__name__)

SOURCE = "rtmp"
OUT_CHUNK_SIZE = 4096
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # a 4K keyframe is a few MB; more is a broken or hostile peer
SERVER_WINDOW = 2_500_000


def _close_if_opened(future: asyncio.Future[FrameSink]) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result().close("error: server stopped")


class _Refused(Exception):
    """The peer was told no (bad app, key, or request); end the connection without a sink error."""


def redact(key: str) -> str:
    """What logs show of a stream key: it is a credential, so at most its first 8 characters (the DB's prefix).
    ``RtmpServer.stats`` keeps full keys: it is for the process itself and never served over the API."""
    return key[: min(8, len(key) // 2)] + "…"


@dataclass
class PublisherStats:
    """Counters of one published stream (written by the worker thread, read by ``RtmpServer.stats``)."""

    key: str
    peer: str
    started: float = field(default_factory=time.time)
    bytes: int = 0
    video_frames: int = 0
    audio_frames: int = 0


class RtmpConnection:
    """Serves one TCP connection; ``publishers`` maps live stream keys to their connection (server-owned)."""

    def __init__(
        self,
        settings: Settings,
        opener: SinkOpener,
        publishers: dict[str, RtmpConnection],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self._settings = settings
        self._opener = opener
        self._publishers = publishers
        self._reader = reader
        self._writer = writer
        self._chunks = wire.ChunkReader(reader, MAX_MESSAGE_BYTES)
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.stats: PublisherStats | None = None
        self._sink: FrameSink | None = None
        self._decoder = FlvDecoder()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rtmp-decode")
        self._next_stream_id = 1
        self._ack_window = 0
        self._acked = 0
        self._ended = False

    async def run(self) -> str:
        """Serve until the publisher leaves; returns why (the reason its sink was closed with, if any)."""
        reason = "disconnected"
        try:
            await self._serve()
            reason = "ended" if self._ended else "disconnected"
        except TimeoutError:
            reason = "stalled"
        except (asyncio.IncompleteReadError, ConnectionError):
            reason = "disconnected"
        except _Refused as exc:
            reason = f"refused: {exc}"
        except FrameSentryError as exc:
            reason = f"error: {exc.message}"
        except asyncio.CancelledError:
            reason = "error: server stopped"
        except Exception as exc:  # a bug must cost this connection only, never the server
            log.exception("RTMP connection %s failed", self.peer)
            reason = f"error: internal ({type(exc).__name__})"
        await self._finish(reason)
        return reason

    async def _serve(self) -> None:
        stall = self._settings.live_stall_timeout_s
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(stall):
            await wire.server_handshake(self._reader, self._writer)
        last_activity = loop.time()
        while not self._ended:
            async with asyncio.timeout_at(last_activity + stall):
                msg = await self._chunks.read_message()
            await self._handle(msg)
            if self._sink is None or msg.type_id in (wire.AUDIO, wire.VIDEO, wire.AGGREGATE):
                last_activity = loop.time()  # once publishing, only media counts; our own work (key check,
                # decoding) does not count against the publisher
            self._acknowledge()

    async def _handle(self, msg: wire.Message) -> None:
        if msg.type_id in (wire.AUDIO, wire.VIDEO):
            await self._media(msg)
        elif msg.type_id == wire.AGGREGATE:
            for sub in wire.split_aggregate(msg):
                if sub.type_id in (wire.AUDIO, wire.VIDEO):
                    await self._media(sub)
        elif msg.type_id in (wire.COMMAND_AMF0, wire.COMMAND_AMF3):
            payload = msg.payload[1:] if msg.type_id == wire.COMMAND_AMF3 else msg.payload
            await self._command(msg.stream_id, amf.decode_all(payload))
        elif msg.type_id == wire.WINDOW_ACK_SIZE and len(msg.payload) >= 4:
            self._ack_window = int.from_bytes(msg.payload[:4], "big")
        # Data messages (@setDataFrame onMetaData), acknowledgements and user control events carry nothing
        # we need: sizes and rates come from the codec configuration itself.

    def _acknowledge(self) -> None:
        """Send Acknowledgement whenever the peer's declared window of bytes has been received."""
        if self._ack_window and self._chunks.bytes_read - self._acked >= self._ack_window:
            self._acked = self._chunks.bytes_read
            self._writer.write(wire.control(wire.ACKNOWLEDGEMENT, self._acked & 0xFFFFFFFF))

    # --- commands ---------------------------------------------------------------------------------

    async def _command(self, stream_id: int, values: list[Any]) -> None:
        if len(values) < 2 or not isinstance(values[0], str):
            raise RtmpProtocolError("malformed command message")
        name, tid = values[0], values[1]
        if name == "connect":
            await self._connect(tid, values[2] if len(values) > 2 else None)
        elif name == "createStream":
            await self._send(amf.encode("_result", tid, None, self._next_stream_id))
            self._next_stream_id += 1
        elif name == "publish":
            await self._publish(stream_id, values[3] if len(values) > 3 else None)
        elif name in ("FCUnpublish", "deleteStream", "closeStream"):
            self._ended = self._sink is not None
            if not self._ended:
                raise _Refused(f"{name} before publishing")
        elif name in ("play", "play2"):
            await self._status(stream_id, "error", "NetStream.Play.Failed", "this server only accepts publishers")
            raise _Refused("play is not served")
        elif name in ("releaseStream", "FCPublish") and tid:
            await self._send(amf.encode("_result", tid, None))

    async def _connect(self, tid: Any, obj: Any) -> None:
        app = str(obj.get("app", "")) if isinstance(obj, dict) else ""
        app = app.split("?", 1)[0].strip("/")
        if app != self._settings.rtmp_app:
            await self._send(
                amf.encode(
                    "_error",
                    tid,
                    None,
                    {
                        "level": "error",
                        "code": "NetConnection.Connect.Rejected",
                        "description": f"unknown application {app!r}; use /{self._settings.rtmp_app}/<stream key>",
                    },
                )
            )
            raise _Refused(f"unknown application {app!r}")
        self._writer.write(
            wire.control(wire.WINDOW_ACK_SIZE, SERVER_WINDOW)
            + wire.control(wire.SET_PEER_BANDWIDTH, SERVER_WINDOW, 2)
            + wire.control(wire.SET_CHUNK_SIZE, OUT_CHUNK_SIZE)
        )
        await self._send(
            amf.encode(
                "_result",
                tid,
                {"fmsVer": "FMS/3,0,1,123", "capabilities": 31},
                {
                    "level": "status",
                    "code": "NetConnection.Connect.Success",
                    "description": "Connection succeeded.",
                    "objectEncoding": 0,
                },
            )
        )

    async def _publish(self, stream_id: int, name: Any) -> None:
        if self._sink is not None:
            raise RtmpProtocolError("a second publish on one connection")
        key = str(name or "").split("?", 1)[0]
        if not key:
            await self._status(stream_id, "error", "NetStream.Publish.BadName", "no stream key")
            raise _Refused("no stream key")
        if key in self._publishers:
            await self._status(stream_id, "error", "NetStream.Publish.BadName", "stream key already publishing")
            raise _Refused("stream key already publishing")
        loop = asyncio.get_running_loop()
        opened = loop.run_in_executor(self._worker, self._opener, key, SOURCE)  # may hit a database: off the loop
        try:
            sink = await asyncio.shield(opened)
        except asyncio.CancelledError:  # server stopping mid-check: a sink opened after all must still close
            opened.add_done_callback(_close_if_opened)
            raise
        except AuthError as exc:
            await self._status(stream_id, "error", "NetStream.Publish.Denied", exc.message)
            raise _Refused(f"stream key refused: {exc.message}") from None
        except FrameSentryError as exc:  # e.g. too many streams: refuse this publisher, keep serving
            await self._status(stream_id, "error", "NetStream.Publish.Failed", exc.message)
            raise _Refused(exc.message) from None
        if key in self._publishers:  # another connection won the race while the opener ran
            await loop.run_in_executor(self._worker, sink.close, "error: stream key already publishing")
            await self._status(stream_id, "error", "NetStream.Publish.BadName", "stream key already publishing")
            raise _Refused("stream key already publishing")
        self._sink, self.stats = sink, PublisherStats(key=key, peer=self.peer)
        logs.bind(stream_id=getattr(sink, "id", None))  # this connection's task only: its later log lines
        self._publishers[key] = self
        self._writer.write(wire.stream_begin(stream_id))
        await self._status(stream_id, "status", "NetStream.Publish.Start", f"{key} is now published")
        log.info("RTMP publisher %s started stream %s", self.peer, redact(key))

    async def _status(self, stream_id: int, level: str, code: str, description: str) -> None:
        await self._send(
            amf.encode("onStatus", 0, None, {"level": level, "code": code, "description": description}),
            stream_id=stream_id,
        )

    async def _send(self, payload: bytes, stream_id: int = 0) -> None:
        self._writer.write(wire.command(payload, stream_id=stream_id, chunk_size=OUT_CHUNK_SIZE))
        await self._writer.drain()

    # --- media ------------------------------------------------------------------------------------

    async def _media(self, msg: wire.Message) -> None:
        if self._sink is None:
            raise RtmpProtocolError("media before publish")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._worker, self._decode, msg.type_id, msg.timestamp, msg.payload)

    def _decode(self, type_id: int, timestamp: int, payload: bytes) -> None:
        """Worker thread: decode one message and hand its frames to the sink."""
        assert self._sink is not None and self.stats is not None
        self.stats.bytes += len(payload)
        if type_id == wire.VIDEO:
            for frame in self._decoder.video(timestamp, payload):
                self._sink.push_video(frame)
                self.stats.video_frames += 1
        else:
            for aframe in self._decoder.audio(timestamp, payload):
                self._sink.push_audio(aframe)
                self.stats.audio_frames += 1

    def _flush_and_close(self, reason: str) -> None:
        """Worker thread: deliver what the decoders hold (unless the stream failed), then close the sink."""
        assert self._sink is not None and self.stats is not None
        try:
            if not reason.startswith("error"):
                video, audio = self._decoder.flush()
                for frame in video:
                    self._sink.push_video(frame)
                for aframe in audio:
                    self._sink.push_audio(aframe)
                self.stats.video_frames += len(video)
                self.stats.audio_frames += len(audio)
        except Exception:
            log.exception("RTMP stream %s: flushing the decoders failed", redact(self.stats.key))
        finally:
            self._decoder.close()
            self._sink.close(reason)

    async def _finish(self, reason: str) -> None:
        """Close the sink (after every frame already queued), free the worker and drop the socket."""
        if self._sink is not None and self.stats is not None:
            log.info("RTMP stream %s from %s closed: %s", redact(self.stats.key), self.peer, reason)
            try:
                await asyncio.get_running_loop().run_in_executor(self._worker, self._flush_and_close, reason)
            except Exception:
                log.exception("RTMP stream %s: closing its sink failed", redact(self.stats.key))
            if self._publishers.get(self.stats.key) is self:
                del self._publishers[self.stats.key]
        else:
            self._decoder.close()
            log.info("RTMP connection %s closed before publishing: %s", self.peer, reason)
        self._worker.shutdown(wait=False)
        self._writer.close()
        try:
            async with asyncio.timeout(1.0):
                await self._writer.wait_closed()
        except (TimeoutError, ConnectionError, asyncio.CancelledError):
            pass
