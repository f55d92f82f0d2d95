"""RTMP wire format and FLV decoding, without a network: chunk headers and timestamps as FFmpeg writes them,
broken chunk streams, AMF0, aggregate messages, and the decoder's tolerance of isolated bad packets."""

from __future__ import annotations

import asyncio
import os
import struct

import pytest

from framesentry.errors import CorruptMediaError, RtmpProtocolError
from framesentry.stream import rtmp_amf as amf
from framesentry.stream import rtmp_chunks as wire
from framesentry.stream.rtmp_flv import MAX_BAD_PACKETS, FlvDecoder

# --- wire format and decoder units ------------------------------------------------------------------------


def _read_all(data: bytes, chunk_size: int = 128) -> list[wire.Message]:
    async def main() -> list[wire.Message]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        chunks = wire.ChunkReader(reader, 1 << 20)
        chunks.chunk_size = chunk_size
        out = []
        try:
            while True:
                out.append(await chunks.read_message())
        except asyncio.IncompleteReadError:
            return out

    return asyncio.run(main())


def test_chunk_headers_timestamps_follow_ffmpeg() -> None:
    """Type 0 sets, 1/2 add a delta, a type-3 header starting a new message adds the last delta again; an
    extended timestamp is also present on type-3 chunks; two chunk streams may interleave."""
    big = bytes(range(200))
    data = (
        struct.pack(">B3s3sB", 6, (1000).to_bytes(3, "big"), (4).to_bytes(3, "big"), 8) + struct.pack("<I", 1)
        + b"aaaa"
        + struct.pack(">B3s", 0x86, (64).to_bytes(3, "big")) + b"bbbb"  # type 2: +64
        + bytes([0xC6]) + b"cccc"  # type 3, new message: +64 again
        + struct.pack(">B3s3sB", 7, (40).to_bytes(3, "big"), (200).to_bytes(3, "big"), 9) + struct.pack("<I", 1)
        + big[:128]
        + bytes([0xC6]) + b"dddd"  # interleaved: another 4-byte audio message on csid 6
        + bytes([0xC7]) + big[128:]  # continuation of the video message
        + struct.pack(">B3s3sB", 8, b"\xff\xff\xff", (130).to_bytes(3, "big"), 9) + struct.pack("<I", 1)
        + struct.pack(">I", 0x01020304) + big[:128]
        + bytes([0xC8]) + struct.pack(">I", 0x01020304) + big[128:130]  # extended ts repeated on type 3
    )
    msgs = _read_all(data)
    assert [(m.type_id, m.timestamp, m.payload[:4]) for m in msgs] == [
        (8, 1000, b"aaaa"), (8, 1064, b"bbbb"), (8, 1128, b"cccc"), (8, 1192, b"dddd"),
        (9, 40, big[:4]), (9, 0x01020304, big[:4]),
    ]
    assert msgs[4].payload == big and msgs[5].payload == big[:130]


def test_chunk_reader_refuses_broken_streams() -> None:
    with pytest.raises(RtmpProtocolError, match="without a full header"):
        _read_all(bytes([0x45]) + bytes(7))
    with pytest.raises(RtmpProtocolError, match="over the"):
        _read_all(struct.pack(">B3s3sB", 4, b"\0\0\0", b"\xff\xff\xf0", 9) + bytes(4) + bytes(128))


def test_amf0_round_trip_and_refusals() -> None:
    values = ["connect", 1.0, {"app": "live", "n": 2.5, "ok": True, "nested": {"x": None}}, None, "é" * 3]
    assert amf.decode_all(amf.encode(*values)) == values
    with pytest.raises(RtmpProtocolError):
        amf.decode_all(b"\x02\x00\x09abc")  # string longer than the message
    with pytest.raises(RtmpProtocolError):
        amf.decode_all(b"\x11\x00")  # AMF3 marker inside AMF0


def test_aggregate_message_is_split_with_rebased_times() -> None:
    def tag(kind: int, ts: int, body: bytes) -> bytes:
        return (bytes([kind]) + len(body).to_bytes(3, "big") + (ts & 0xFFFFFF).to_bytes(3, "big")
                + bytes([ts >> 24]) + bytes(3) + body + struct.pack(">I", 11 + len(body)))

    agg = wire.Message(wire.AGGREGATE, 1, 5000, tag(9, 100, b"v1") + tag(8, 121, b"a1") + tag(9, 133, b"v2"))
    parts = wire.split_aggregate(agg)
    assert [(p.type_id, p.timestamp, p.payload) for p in parts] == [
        (9, 5000, b"v1"), (8, 5021, b"a1"), (9, 5033, b"v2")
    ]


def test_flv_decoder_skips_isolated_bad_packets_but_not_a_broken_stream() -> None:
    decoder = FlvDecoder()
    decoder.video(0, bytes([0x17, 0, 0, 0, 0]) + os.urandom(40))
    for i in range(MAX_BAD_PACKETS - 1):
        assert decoder.video(33 * i, bytes([0x27, 1, 0, 0, 0]) + os.urandom(300)) == []
    with pytest.raises(CorruptMediaError, match="in a row"):
        decoder.video(2000, bytes([0x27, 1, 0, 0, 0]) + os.urandom(300))
    assert decoder.bad_packets == MAX_BAD_PACKETS
    assert FlvDecoder().video(0, bytes([0x27, 1, 0, 0, 0]) + b"x") == []  # before a sequence header: skipped
