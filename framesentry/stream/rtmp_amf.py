"""AMF0, the value encoding of RTMP commands (``connect``, ``publish``, ``onStatus``...).

Only commands use it (a handful of small messages per connection), so this is a plain ``struct`` codec of
the AMF0 types publishers actually send; anything else (references, XML, AMF3 switch) is refused with
``RtmpProtocolError`` instead of being guessed at.
"""

from __future__ import annotations

import struct
from typing import Any

from framesentry.errors import RtmpProtocolError

_NUMBER, _BOOLEAN, _STRING, _OBJECT, _NULL, _UNDEFINED = 0x00, 0x01, 0x02, 0x03, 0x05, 0x06
_ECMA_ARRAY, _OBJECT_END, _STRICT_ARRAY, _DATE, _LONG_STRING = 0x08, 0x09, 0x0A, 0x0B, 0x0C
_MAX_DEPTH = 16


def encode(*values: Any) -> bytes:
    """AMF0 bytes of ``values`` in order (str, bool, int/float, None, dict with str keys)."""
    return b"".join(_encode_one(v) for v in values)


def _encode_one(value: Any) -> bytes:
    if value is None:
        return bytes([_NULL])
    if isinstance(value, bool):
        return bytes([_BOOLEAN, int(value)])
    if isinstance(value, int | float):
        return struct.pack(">Bd", _NUMBER, float(value))
    if isinstance(value, str):
        raw = value.encode()
        if len(raw) > 0xFFFF:
            return struct.pack(">BI", _LONG_STRING, len(raw)) + raw
        return struct.pack(">BH", _STRING, len(raw)) + raw
    if isinstance(value, dict):
        body = b"".join(_key(k) + _encode_one(v) for k, v in value.items())
        return bytes([_OBJECT]) + body + b"\x00\x00" + bytes([_OBJECT_END])
    raise TypeError(f"cannot encode {type(value).__name__} as AMF0")


def _key(name: str) -> bytes:
    raw = name.encode()
    return struct.pack(">H", len(raw)) + raw


def decode_all(data: bytes) -> list[Any]:
    """Every AMF0 value in ``data``; malformed or unsupported input raises ``RtmpProtocolError``."""
    reader = _Reader(data)
    values = []
    while reader.pos < len(data):
        values.append(reader.value(0))
    return values


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise RtmpProtocolError("truncated AMF0 value")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def string(self, long: bool = False) -> str:
        (n,) = struct.unpack(">I" if long else ">H", self.take(4 if long else 2))
        try:
            return self.take(n).decode()
        except UnicodeDecodeError as exc:
            raise RtmpProtocolError("AMF0 string is not UTF-8") from exc

    def properties(self, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while True:
            name = self.string()
            if not name and self.data[self.pos : self.pos + 1] == bytes([_OBJECT_END]):
                self.pos += 1
                return out
            out[name] = self.value(depth + 1)

    def value(self, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise RtmpProtocolError("AMF0 nesting too deep")
        marker = self.take(1)[0]
        if marker == _NUMBER:
            return struct.unpack(">d", self.take(8))[0]
        if marker == _BOOLEAN:
            return self.take(1)[0] != 0
        if marker in (_STRING, _LONG_STRING):
            return self.string(long=marker == _LONG_STRING)
        if marker == _OBJECT:
            return self.properties(depth)
        if marker == _ECMA_ARRAY:
            self.take(4)  # advisory count; the end marker is authoritative
            return self.properties(depth)
        if marker == _STRICT_ARRAY:
            (n,) = struct.unpack(">I", self.take(4))
            if n > len(self.data) - self.pos:  # every element takes at least one byte
                raise RtmpProtocolError("AMF0 array longer than its message")
            return [self.value(depth + 1) for _ in range(n)]
        if marker in (_NULL, _UNDEFINED):
            return None
        if marker == _DATE:
            millis, _tz = struct.unpack(">dh", self.take(10))
            return millis
        raise RtmpProtocolError(f"unsupported AMF0 type 0x{marker:02x}")
