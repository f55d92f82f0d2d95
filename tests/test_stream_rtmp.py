"""RTMP ingest with real publishers: the ``ffmpeg`` CLI streams a generated clip (real face, real speech) into
``RtmpServer``; a small hand-written RTMP client sends what ffmpeg never would (bad codecs, garbage).

Every robustness case runs next to a healthy "bystander" publisher that must still get its whole clip.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import socket
import struct
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from framesentry.config import Settings
from framesentry.errors import AuthError
from framesentry.stream import rtmp_amf as amf
from framesentry.stream import rtmp_chunks as wire
from framesentry.stream.rtmp_flv import MAX_BAD_PACKETS
from framesentry.stream.rtmp_server import RtmpServer

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg CLI as a publisher")

CLIP_S, FPS, SIZE = 3.0, 30, (640, 360)
KEYS = ("cam-1", "cam-2", "cam-3", "cam-4")


@pytest.fixture(scope="module")
def clip(media_dir: Path, real_faces: list[np.ndarray], speech: np.ndarray) -> Path:
    """3 s 640x360 30 fps H.264/AAC: one real face, real speech."""
    from framesentry.lab.samples import write_clip

    return write_clip(
        media_dir / "rtmp_clip.mp4", duration_s=CLIP_S, size=SIZE, fps=FPS,
        faces=[(real_faces[0], (240, 70, 170))], audio=speech,
    )


class RecordingSink:
    """Keeps what a stream delivered (times, sizes) and checks the contract: nothing after ``close``."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.video: list[tuple[float, int, int]] = []
        self.audio: list[tuple[float, int, int]] = []
        self.reason: str | None = None
        self.late_pushes = 0
        self.closed = threading.Event()

    def push_video(self, frame: Any) -> None:
        self.late_pushes += self.closed.is_set()
        self.video.append((frame.time, frame.width, frame.height))

    def push_audio(self, frame: Any) -> None:
        self.late_pushes += self.closed.is_set()
        self.audio.append((frame.time, frame.samples, frame.sample_rate))

    def close(self, reason: str) -> None:
        assert self.reason is None, "closed twice"
        self.reason = reason
        self.closed.set()


class Opener:
    """Knows ``KEYS``; records every call and the sink it opened."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.sinks: dict[str, RecordingSink] = {}

    def __call__(self, key: str, source: str) -> RecordingSink:
        self.calls.append((key, source))
        if key not in KEYS:
            raise AuthError("unknown stream key")
        self.sinks[key] = RecordingSink(key)
        return self.sinks[key]


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))


async def started(stall_s: float = 5.0) -> tuple[RtmpServer, Opener]:
    opener = Opener()
    server = RtmpServer(Settings(rtmp_port=0, live_stall_timeout_s=stall_s), opener)
    await server.start()
    return server, opener


LOW_LATENCY = ("-preset", "ultrafast", "-tune", "zerolatency")  # what a live encoder sends: no B-frames


async def publish(
    port: int, key: str, clip: Path, *, realtime: bool = False, args: tuple[str, ...] = (),
    x264: tuple[str, ...] = LOW_LATENCY,
) -> Any:
    cmd = ["ffmpeg", "-nostdin", "-v", "error", *(["-re"] if realtime else []), "-i", str(clip), *args,
           "-c:v", "libx264", *x264, "-g", "30", "-c:a", "aac",
           "-f", "flv", f"rtmp://127.0.0.1:{port}/live/{key}"]
    return await asyncio.create_subprocess_exec(*cmd, stderr=asyncio.subprocess.PIPE)


async def finished(proc: Any) -> tuple[int, str]:
    _, err = await proc.communicate()
    return proc.returncode, err.decode(errors="replace")


async def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def drained(server: RtmpServer) -> None:
    """No connection, no publisher, no decode thread left."""
    await wait_for(lambda: server.stats()["connections"] == 0)
    assert server.stats()["publishers"] == 0
    await wait_for(lambda: not [t for t in threading.enumerate() if t.name.startswith("rtmp-decode")])


def assert_whole_clip(sink: RecordingSink) -> None:
    """The full clip arrived in order, with the right size and both tracks."""
    assert sink.reason == "ended" and sink.late_pushes == 0
    times = [t for t, _, _ in sink.video]
    assert len(times) == round(CLIP_S * FPS)
    assert all(b > a for a, b in itertools.pairwise(times))
    assert times[0] < 0.2 and abs(times[-1] - times[0] - (CLIP_S - 1 / FPS)) < 0.05
    assert {(w, h) for _, w, h in sink.video} == {SIZE}
    audio_s = sum(n / rate for _, n, rate in sink.audio)
    assert abs(audio_s - CLIP_S) < 0.15
    atimes = [t for t, _, _ in sink.audio]
    assert all(b > a for a, b in itertools.pairwise(atimes))


# --- real publishers -------------------------------------------------------------------------------


@pytest.mark.parametrize("x264", [LOW_LATENCY, ("-preset", "veryfast", "-bf", "2")], ids=["live", "b-frames"])
def test_publish_delivers_timed_frames_and_audio(clip: Path, x264: tuple[str, ...]) -> None:
    """B-frames arrive in decode order with a composition offset; frames must still come out in time order."""

    async def main() -> None:
        server, opener = await started()
        rc, err = await finished(await publish(server.port, "cam-1", clip, x264=x264))
        assert rc == 0, err
        sink = opener.sinks["cam-1"]
        await wait_for(sink.closed.is_set)
        assert opener.calls == [("cam-1", "rtmp")]
        assert_whole_clip(sink)
        assert {rate for _, _, rate in sink.audio} == {16000}
        await drained(server)
        totals = server.stats()["totals"]
        assert totals == {"connections": 1, "published": 1, "refused": 0, "failed": 0}
        await server.stop()

    run(main())


def test_concurrent_publishers_and_refusals(clip: Path) -> None:
    """Two live publishers at once (one with digital silence: constant-size AAC frames, which FFmpeg sends
    with type-3 chunk headers); an unknown key and a key already live are refused with ffmpeg failing."""

    async def main() -> None:
        server, opener = await started()
        one = await publish(server.port, "cam-1", clip, realtime=True)
        two = await publish(server.port, "cam-2", clip, realtime=True, args=("-af", "volume=0"))
        await wait_for(lambda: server.stats()["publishers"] == 2)
        rc_bad, err_bad = await finished(await publish(server.port, "stolen-key", clip))
        rc_dup, err_dup = await finished(await publish(server.port, "cam-1", clip))
        streams = server.stats()["streams"]
        assert set(streams) == {"cam-1", "cam-2"} and all(s["bytes"] > 0 for s in streams.values())
        assert rc_bad != 0 and "unknown stream key" in err_bad
        assert rc_dup != 0 and "already publishing" in err_dup
        assert "stolen-key" not in opener.sinks
        for proc in (one, two):
            rc, err = await finished(proc)
            assert rc == 0, err
        await wait_for(lambda: all(s.closed.is_set() for s in opener.sinks.values()))
        assert_whole_clip(opener.sinks["cam-1"])
        assert_whole_clip(opener.sinks["cam-2"])
        silent = [t for t, _, _ in opener.sinks["cam-2"].audio]
        assert np.allclose(np.diff(silent), 1024 / 16000, atol=0.0015)  # every frame 64 ms after the last
        await drained(server)
        assert server.stats()["totals"]["refused"] == 2
        await server.stop()

    run(main())


def test_killed_publisher_is_disconnected_others_continue(clip: Path) -> None:
    async def main() -> None:
        server, opener = await started()
        bystander = await publish(server.port, "cam-1", clip, realtime=True)
        victim = await publish(server.port, "cam-2", clip, realtime=True)
        await wait_for(lambda: len(opener.sinks.get("cam-2", RecordingSink("")).video) > 35)  # past a keyframe
        victim.kill()
        await victim.wait()
        sink = opener.sinks["cam-2"]
        await wait_for(sink.closed.is_set)
        assert sink.reason == "disconnected"
        assert 35 < len(sink.video) < round(CLIP_S * FPS) and sink.late_pushes == 0
        rc, err = await finished(bystander)
        assert rc == 0, err
        await wait_for(opener.sinks["cam-1"].closed.is_set)
        assert_whole_clip(opener.sinks["cam-1"])
        await drained(server)
        await server.stop()

    run(main())


def test_stalled_publisher_is_dropped_others_continue(clip: Path) -> None:
    async def main() -> None:
        server, opener = await started(stall_s=0.8)
        bystander = await publish(server.port, "cam-1", clip, realtime=True)
        staller = await publish(server.port, "cam-2", clip, realtime=True)
        await wait_for(lambda: len(opener.sinks.get("cam-2", RecordingSink("")).video) > 10)
        os.kill(staller.pid, signal.SIGSTOP)  # the TCP connection stays open, nothing more is sent
        stopped_at = time.monotonic()
        sink = opener.sinks["cam-2"]
        await wait_for(sink.closed.is_set)
        assert sink.reason == "stalled" and 0.7 < time.monotonic() - stopped_at < 2.0
        await wait_for(lambda: "cam-2" not in server.stats()["streams"])
        os.kill(staller.pid, signal.SIGCONT)
        rc_stalled, _ = await finished(staller)
        assert rc_stalled != 0  # its connection was dropped
        rc, err = await finished(bystander)
        assert rc == 0, err
        await wait_for(opener.sinks["cam-1"].closed.is_set)
        assert_whole_clip(opener.sinks["cam-1"])
        await drained(server)
        await server.stop()

    run(main())


def test_garbage_and_silent_connections_are_dropped(clip: Path) -> None:
    async def main() -> None:
        server, opener = await started(stall_s=1.0)
        bystander = await publish(server.port, "cam-1", clip, realtime=True)
        rng = np.random.default_rng(7)
        noise = b"GET / HTTP/1.1\r\n\r\n" + rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
        assert await raw_exchange(server.port, noise) == b""  # not RTMP: dropped at once
        after_handshake = await raw_exchange(server.port, noise[:64], handshake=True)
        assert after_handshake == b""  # a valid handshake, then chunks that make no sense
        t0 = time.monotonic()
        assert await raw_exchange(server.port, b"") == b""  # connects, never says anything
        assert 0.9 < time.monotonic() - t0 < 2.5
        rc, err = await finished(bystander)
        assert rc == 0, err
        await wait_for(opener.sinks["cam-1"].closed.is_set)
        assert_whole_clip(opener.sinks["cam-1"])
        assert opener.calls == [("cam-1", "rtmp")]
        await drained(server)
        await server.stop()

    run(main())


def test_decoder_failure_ends_only_that_stream(clip: Path) -> None:
    """A stream in a codec we do not decode, and one whose H.264 is garbage, both end with an error."""

    async def main() -> None:
        server, opener = await started()
        bystander = await publish(server.port, "cam-1", clip, realtime=True)
        vp6 = await MiniPublisher.connect(server.port, "cam-2")
        await vp6.send(wire.VIDEO, 0, bytes([0x14]) + os.urandom(500))  # keyframe, codec id 4 (VP6)
        assert await vp6.closed_by_server()
        garbage = await MiniPublisher.connect(server.port, "cam-3")
        await garbage.send(wire.VIDEO, 0, bytes([0x17, 0, 0, 0, 0]) + os.urandom(40))  # bogus sequence header
        for i in range(MAX_BAD_PACKETS + 5):
            await garbage.send(wire.VIDEO, 33 * i, bytes([0x27, 1, 0, 0, 0]) + os.urandom(800))
        assert await garbage.closed_by_server()
        await wait_for(lambda: opener.sinks["cam-3"].closed.is_set())
        assert opener.sinks["cam-2"].reason is not None and "VP6" in opener.sinks["cam-2"].reason
        assert (opener.sinks["cam-3"].reason or "").startswith("error: ")
        rc, err = await finished(bystander)
        assert rc == 0, err
        await wait_for(opener.sinks["cam-1"].closed.is_set)
        assert_whole_clip(opener.sinks["cam-1"])
        await drained(server)
        assert server.stats()["totals"]["failed"] == 2
        await server.stop()

    run(main())


def test_stop_closes_live_publishers(clip: Path) -> None:
    async def main() -> None:
        server, opener = await started()
        proc = await publish(server.port, "cam-1", clip, realtime=True)
        await wait_for(lambda: len(opener.sinks.get("cam-1", RecordingSink("")).video) > 5)
        await server.stop()
        assert opener.sinks["cam-1"].reason == "error: server stopped"
        rc, _ = await finished(proc)
        assert rc != 0
        await wait_for(lambda: not [t for t in threading.enumerate() if t.name.startswith("rtmp-decode")])

    run(main())


# --- a minimal RTMP client for what ffmpeg will not send ----------------------------------------------


async def raw_exchange(port: int, data: bytes, handshake: bool = False) -> bytes:
    """Send ``data`` (after a client handshake if asked) and return what the server sent after that until it
    closed the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if handshake:
        writer.write(bytes([3]) + bytes(wire.HANDSHAKE_SIZE))
        await reader.readexactly(1 + 2 * wire.HANDSHAKE_SIZE)
        writer.write(bytes(wire.HANDSHAKE_SIZE))
    writer.write(data)
    try:
        return await asyncio.wait_for(reader.read(), 5.0)
    except ConnectionError:
        return b""
    finally:
        writer.close()


class MiniPublisher:
    """Connects and publishes ``key`` the way ffmpeg does, then sends whatever media a test hands it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.chunks = wire.ChunkReader(reader, 1 << 20)

    @classmethod
    async def connect(cls, port: int, key: str) -> MiniPublisher:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        self = cls(reader, writer)
        writer.write(bytes([3]) + bytes(wire.HANDSHAKE_SIZE))
        await reader.readexactly(1 + 2 * wire.HANDSHAKE_SIZE)
        writer.write(bytes(wire.HANDSHAKE_SIZE))
        writer.write(wire.command(amf.encode("connect", 1, {"app": "live", "type": "nonprivate"})))
        await self.expect("_result")
        writer.write(wire.command(amf.encode("createStream", 2, None)))
        stream_id = int((await self.expect("_result"))[3])
        writer.write(wire.command(amf.encode("publish", 3, None, key, "live"), stream_id=stream_id))
        status = await self.expect("onStatus")
        assert status[3]["code"] == "NetStream.Publish.Start"
        return self

    async def expect(self, name: str) -> list[Any]:
        while True:
            msg = await asyncio.wait_for(self.chunks.read_message(), 5.0)
            if msg.type_id == wire.COMMAND_AMF0 and (values := amf.decode_all(msg.payload))[0] == name:
                return values

    async def send(self, type_id: int, timestamp: int, body: bytes) -> None:
        header = struct.pack(">B3s3sBI", 4, timestamp.to_bytes(3, "big"), len(body).to_bytes(3, "big"), type_id, 0)
        chunks = [body[i : i + 128] for i in range(0, len(body), 128)]
        self.writer.write(header[:-4] + struct.pack("<I", 1) + b"\xc4".join(chunks))
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()

    async def closed_by_server(self) -> bool:
        with contextlib.suppress(ConnectionError):
            await asyncio.wait_for(self.reader.read(), 5.0)
        self.writer.close()
        return self.reader.at_eof()


def test_port_zero_and_restart_refused() -> None:
    async def main() -> None:
        server, _ = await started()
        assert server.port > 0
        with socket.create_connection(("127.0.0.1", server.port), timeout=2):
            pass
        with pytest.raises(RuntimeError):
            await server.start()
        await server.stop()
        with pytest.raises(RuntimeError):
            _ = server.port

    run(main())
