"""Is the file complete? Cheap checks that catch cut-off uploads before decoding starts.

An interrupted upload is the most common damaged input. FFmpeg happily opens many cut files and simply
stops early, which would silently analyse half a video. Containers usually say how big they are (RIFF and
Matroska size fields) or where every packet lives (the MP4/MOV and AVI indexes); data promised beyond the
end of the file means the file was cut.
"""

from __future__ import annotations

from pathlib import Path

from av.audio.stream import AudioStream
from av.video.stream import VideoStream

from framesentry.errors import CorruptMediaError
from framesentry.media.container import format_time


def _mb(n: int) -> str:
    return f"{n / 1024**2:,.1f} MB" if n >= 1024**2 else f"{n / 1024:,.0f} KB"


def _cut_error(path: Path, at_s: float | None, size: int, expected: int | None) -> CorruptMediaError:
    where = f"after about {format_time(at_s)}" if at_s is not None else "before its end"
    of = f" (it has {_mb(size)} of {_mb(expected)})" if expected else ""
    return CorruptMediaError(
        f"'{path.name}' is incomplete: the file is cut off {where}{of}. The upload or copy probably stopped "
        "early; please upload the complete file.",
        at_s=round(at_s, 3) if at_s is not None else None,
        size_bytes=size,
        expected_bytes=expected,
    )


def _read_vint(data: bytes, pos: int) -> tuple[int, int, bool] | None:
    """Matroska variable-length integer at ``pos``: (value, next position, all-ones = 'unknown size')."""
    if pos >= len(data) or data[pos] == 0:
        return None
    first = data[pos]
    length = 8 - first.bit_length() + 1
    if pos + length > len(data):
        return None
    value = first & ((1 << (8 - length)) - 1)
    for b in data[pos + 1 : pos + length]:
        value = (value << 8) | b
    return value, pos + length, value == (1 << (7 * length)) - 1


def declared_size(path: Path) -> int | None:
    """Bytes the container header says the file has (RIFF: WAV/AVI; Matroska/WebM), or None if unknown."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    if head.startswith(b"RIFF") and len(head) >= 12:
        riff = int.from_bytes(head[4:8], "little")
        return None if riff in (0, 0xFFFFFFFF) else riff + 8
    if head.startswith(b"\x1aE\xdf\xa3"):
        hdr = _read_vint(head, 4)
        if hdr is None:
            return None
        seg_pos = hdr[1] + hdr[0]
        if head[seg_pos : seg_pos + 4] != b"\x18\x53\x80\x67":
            return None
        seg = _read_vint(head, seg_pos + 4)
        if seg is None or seg[2]:  # live recordings write "unknown size"
            return None
        return seg[1] + seg[0]
    return None


def check_declared_size(path: Path, size: int, duration_s: float | None) -> None:
    """Raise if the header promises more bytes than the file holds (time of the cut is estimated)."""
    expected = declared_size(path)
    if expected is None or size >= expected:
        return
    at = duration_s * size / expected if duration_s else None
    raise _cut_error(path, at, size, expected)


def check_index(path: Path, size: int, streams: list[VideoStream | AudioStream], t0: float) -> None:
    """Raise if an MP4/MOV or AVI index points at packets beyond the end of the file (exact cut time)."""
    cut_at: list[float] = []
    for stream in streams:
        entries = stream.index_entries
        n = len(entries) if entries is not None else 0
        if n == 0:
            continue
        last = entries[n - 1]
        if last.pos + last.size <= size:
            continue
        missing = next((entries[i] for i in range(n) if entries[i].pos + entries[i].size > size), last)
        tb = float(stream.time_base) if stream.time_base is not None else 0.0
        cut_at.append(max(0.0, missing.timestamp * tb - t0))
    if cut_at:
        raise _cut_error(path, min(cut_at), size, None)


def check_data_end(path: Path, data_end_s: float, duration_s: float | None) -> None:
    """After a full read: raise if the packets stopped well before the duration the header declared."""
    if duration_s is None or data_end_s <= 0:
        return
    if duration_s - data_end_s > max(1.0, 0.005 * duration_s):
        raise CorruptMediaError(
            f"'{path.name}' is incomplete: it should last {format_time(duration_s)} but its data stops at "
            f"{format_time(data_end_s)}. The file was probably cut off; please upload the complete file.",
            at_s=round(data_end_s, 3),
            duration_s=round(duration_s, 3),
        )
