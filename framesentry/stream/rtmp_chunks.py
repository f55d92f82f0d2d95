"""The RTMP wire: handshake, chunk stream reassembly into messages, and message encoding.

Written here rather than taken from pyrtmp because its chunk reader gets timestamps wrong in ways a live
detector feels: a type-3 header that starts a new message (FFmpeg sends one whenever size and delta repeat,
e.g. silent AAC frames) keeps the previous timestamp instead of adding the delta, and the extended timestamp
of continuation chunks is not read (the stream desynchronises after 4.66 h). Headers follow FFmpeg's own
reader (libavformat/rtmppkt.c) so that what FFmpeg, OBS and librtmp write is read back exactly.
"""

from __future__ import annotations

import asyncio
import os
import struct
import time
from dataclasses import dataclass

from framesentry.errors import RtmpProtocolError

SET_CHUNK_SIZE, ABORT, ACKNOWLEDGEMENT, USER_CONTROL, WINDOW_ACK_SIZE, SET_PEER_BANDWIDTH = 1, 2, 3, 4, 5, 6
AUDIO, VIDEO, DATA_AMF3, COMMAND_AMF3, DATA_AMF0, COMMAND_AMF0, AGGREGATE = 8, 9, 15, 17, 18, 20, 22

HANDSHAKE_SIZE = 1536
RTMP_VERSION = 3
MAX_CHUNK_SIZE = 1 << 24  # spec allows 2^31-1; nobody sends chunks this big, and it bounds one read
_EXTENDED = 0xFFFFFF
_CONTROL_CSID, _COMMAND_CSID = 2, 3


@dataclass(frozen=True)
class Message:
    """One reassembled RTMP message; ``timestamp`` is in milliseconds (32-bit, as on the wire)."""

    type_id: int
    stream_id: int
    timestamp: int
    payload: bytes


@dataclass
class _ChunkStream:
    """Header state of one chunk stream id: what type 1-3 headers inherit."""

    timestamp: int = 0
    ts_field: int = 0  # 3-byte field as sent (type 0: absolute, else delta); 0xFFFFFF: 4-byte value follows
    length: int = 0
    type_id: int = 0
    stream_id: int = 0
    partial: bytearray | None = None


async def server_handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Simple (non-digest) handshake; publishers accept it (only players verify the server digest)."""
    c0 = (await reader.readexactly(1))[0]
    if c0 != RTMP_VERSION:  # checked alone, so that anything else is dropped before we wait for more
        raise RtmpProtocolError(f"not RTMP: handshake version byte 0x{c0:02x}")
    c1 = await reader.readexactly(HANDSHAKE_SIZE)
    now = int(time.monotonic() * 1000) & 0xFFFFFFFF
    s1 = struct.pack(">II", now, 0) + os.urandom(HANDSHAKE_SIZE - 8)
    s2 = c1[:4] + struct.pack(">I", now) + c1[8:]
    writer.write(bytes([RTMP_VERSION]) + s1 + s2)
    await writer.drain()
    await reader.readexactly(HANDSHAKE_SIZE)  # C2 echoes S1; nothing to check for a publisher


class ChunkReader:
    """Reads chunks from a stream and returns whole messages. Handles Set Chunk Size and Abort itself,
    because they change how the following bytes are cut; every other message is returned."""

    def __init__(self, reader: asyncio.StreamReader, max_message_bytes: int) -> None:
        self._reader = reader
        self._max_message = max_message_bytes
        self._streams: dict[int, _ChunkStream] = {}
        self.chunk_size = 128
        self.bytes_read = 0

    async def _take(self, n: int) -> bytes:
        data = await self._reader.readexactly(n)
        self.bytes_read += n
        return data

    async def read_message(self) -> Message:
        """The next complete message (raises ``asyncio.IncompleteReadError`` at EOF)."""
        while True:
            msg = await self._read_chunk()
            if msg is None:
                continue
            if msg.type_id == SET_CHUNK_SIZE:
                self.chunk_size = _parse_chunk_size(msg.payload)
            elif msg.type_id == ABORT and len(msg.payload) >= 4:
                cs = self._streams.get(struct.unpack(">I", msg.payload[:4])[0])
                if cs is not None:
                    cs.partial = None
            else:
                return msg

    async def _read_chunk(self) -> Message | None:
        first = (await self._take(1))[0]
        fmt, csid = first >> 6, first & 0x3F
        if csid == 0:
            csid = (await self._take(1))[0] + 64
        elif csid == 1:
            lo, hi = await self._take(2)
            csid = lo + hi * 256 + 64
        cs = self._streams.get(csid)
        if cs is None:
            if fmt != 0:
                raise RtmpProtocolError(f"chunk stream {csid} starts without a full header")
            cs = self._streams[csid] = _ChunkStream()
        if fmt <= 2:
            cs.ts_field = int.from_bytes(await self._take(3), "big")
        if fmt <= 1:
            header = await self._take(4)
            cs.length, cs.type_id = int.from_bytes(header[:3], "big"), header[3]
        if fmt == 0:
            cs.stream_id = struct.unpack("<I", await self._take(4))[0]
        ts = cs.ts_field
        if ts == _EXTENDED:  # also on type-3 chunks, as FFmpeg writes them
            ts = struct.unpack(">I", await self._take(4))[0]
        if cs.partial is None or fmt != 3:  # the first chunk of a new message
            cs.timestamp = ts if fmt == 0 else (cs.timestamp + ts) & 0xFFFFFFFF  # type 3 repeats the last delta
            if cs.length > self._max_message:
                raise RtmpProtocolError(f"message of {cs.length} bytes is over the {self._max_message} limit")
            cs.partial = bytearray()
        need = min(self.chunk_size, cs.length - len(cs.partial))
        if need:
            cs.partial += await self._take(need)
        if len(cs.partial) < cs.length:
            return None
        payload, cs.partial = bytes(cs.partial), None
        return Message(cs.type_id, cs.stream_id, cs.timestamp, payload)


def _parse_chunk_size(payload: bytes) -> int:
    if len(payload) < 4:
        raise RtmpProtocolError("short Set Chunk Size message")
    size = struct.unpack(">I", payload[:4])[0] & 0x7FFFFFFF
    if not 1 <= size <= MAX_CHUNK_SIZE:
        raise RtmpProtocolError(f"chunk size {size} out of range")
    return size


def split_aggregate(msg: Message) -> list[Message]:
    """The FLV tags inside an Aggregate message, with timestamps rebased onto the aggregate's."""
    out: list[Message] = []
    data, pos, base = msg.payload, 0, None
    while pos + 11 <= len(data):
        kind, size = data[pos], int.from_bytes(data[pos + 1 : pos + 4], "big")
        ts = int.from_bytes(data[pos + 4 : pos + 7], "big") | (data[pos + 7] << 24)
        body = data[pos + 11 : pos + 11 + size]
        if len(body) < size:
            raise RtmpProtocolError("truncated tag in an aggregate message")
        base = ts if base is None else base
        out.append(Message(kind, msg.stream_id, (msg.timestamp + ts - base) & 0xFFFFFFFF, body))
        pos += 11 + size + 4  # tag header, body, back pointer
    return out


def encode_message(
    type_id: int, payload: bytes, *, stream_id: int = 0, csid: int = _CONTROL_CSID, chunk_size: int = 128
) -> bytes:
    """One message as a type-0 chunk followed by type-3 continuations (timestamp 0: we never send media)."""
    parts = [struct.pack(">B3s3sB", csid, b"\0\0\0", len(payload).to_bytes(3, "big"), type_id)]
    parts.append(struct.pack("<I", stream_id))
    for start in range(0, max(len(payload), 1), chunk_size):
        if start:
            parts.append(bytes([0xC0 | csid]))
        parts.append(payload[start : start + chunk_size])
    return b"".join(parts)


def control(type_id: int, *values: int) -> bytes:
    """A protocol control message of 32-bit fields (Set Peer Bandwidth's limit type is one byte)."""
    if type_id == SET_PEER_BANDWIDTH:
        payload = struct.pack(">IB", *values)
    else:
        payload = b"".join(struct.pack(">I", v) for v in values)
    return encode_message(type_id, payload)


def stream_begin(stream_id: int) -> bytes:
    """User Control event 0 (Stream Begin)."""
    return encode_message(USER_CONTROL, struct.pack(">HI", 0, stream_id))


def command(payload: bytes, *, stream_id: int = 0, chunk_size: int = 128) -> bytes:
    """An AMF0 command message on the command chunk stream."""
    return encode_message(COMMAND_AMF0, payload, stream_id=stream_id, csid=_COMMAND_CSID, chunk_size=chunk_size)
