"""Streaming multipart upload: the file part goes to a staging file in chunks, hashed on the way, with the
size cap enforced while the bytes arrive. The body is never held in memory; small form fields are.

The first bytes of the file are sniffed as soon as they arrive, so a PDF or a text file is refused with 415
before the rest of it is read.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote_to_bytes

from anyio import to_thread
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from framesentry.errors import MediaLimitError, RequestError, UnsupportedMediaTypeError

FILE_FIELD = "file"
TEXT_FIELDS = ("callback_url",)
MAX_FIELD_BYTES = 4096
SNIFF_BYTES = 512
ACCEPTED = "MP4/MOV/M4A/3GP, Matroska/WebM, AVI, WAV, MPEG-TS/PS, FLV, Ogg/Opus, FLAC, MP3, AAC, AIFF, CAF, WMV/ASF"


def sniff(head: bytes) -> str | None:
    """The media container family announced by the first bytes, or None."""
    if len(head) >= 8 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
        return "mp4"
    if head.startswith(b"RIFF") and head[8:12] in (b"AVI ", b"WAVE"):
        return "avi" if head[8:12] == b"AVI " else "wav"
    prefixes = {
        b"\x1aE\xdf\xa3": "matroska",
        b"OggS": "ogg",
        b"fLaC": "flac",
        b"ID3": "mp3",
        b"FLV": "flv",
        b"FORM": "aiff",
        b"caff": "caf",
        b"#!AMR": "amr",
        b"\x00\x00\x01\xba": "mpeg",
        b"\x00\x00\x01\xb3": "mpeg",
        b"\x30\x26\xb2\x75\x8e\x66\xcf\x11": "asf",
    }
    for prefix, name in prefixes.items():
        if head.startswith(prefix):
            return name
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "mpegts"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # MPEG audio / ADTS AAC frame sync
        return "mpeg-audio"
    return None


def declared_type_ok(content_type: str | None) -> bool:
    """Refuse parts the client itself labels as something other than media (text, image, PDF, JSON...)."""
    if not content_type:
        return True
    major, _, minor = content_type.split(";")[0].strip().lower().partition("/")
    if major in ("video", "audio"):
        return True
    return major == "application" and minor not in ("json", "pdf", "zip", "xml", "javascript", "x-www-form-urlencoded")


_EXTENDED = re.compile(r"""filename\*\s*=\s*([A-Za-z0-9_-]+)'[^']*'([^;\s]+)""", re.IGNORECASE)


def extended_filename(disposition: str) -> str | None:
    """An RFC 5987 ``filename*=UTF-8''<percent-encoded>`` name, which some clients send beside an ASCII
    fallback (RFC 7578 asks senders not to; being lenient costs nothing). ``disposition`` is latin-1 text."""
    match = _EXTENDED.search(disposition)
    if match is None:
        return None
    try:
        return unquote_to_bytes(match.group(2)).decode(match.group(1))
    except (LookupError, UnicodeDecodeError):
        return None


@dataclass
class StagedUpload:
    """What arrived: the staged file and its facts, plus the small text fields."""

    path: Path
    filename: str = ""
    content_type: str | None = None
    size_bytes: int = 0
    sha256: str = ""
    container: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


class _Receiver:
    """Callbacks for python-multipart's parser. File bytes are buffered and flushed by ``receive``."""

    def __init__(self, staged: Path, max_bytes: int) -> None:
        self.result = StagedUpload(path=staged)
        self.max_bytes = max_bytes
        self.pending = bytearray()
        self.head = bytearray()
        self.sniffed = False
        self.hasher = hashlib.sha256()
        self._headers: dict[str, str] = {}
        self._hname = bytearray()
        self._hvalue = bytearray()
        self._name = ""
        self._is_file = False
        self._text = bytearray()
        self.files = 0

    def on_part_begin(self) -> None:
        self._headers, self._name, self._is_file, self._text = {}, "", False, bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._hname += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._hvalue += data[start:end]

    def on_header_end(self) -> None:
        # Kept byte-for-byte (latin-1 maps bytes 1:1): clients send non-ASCII file names as raw UTF-8, which the
        # options parser below re-encodes as latin-1, so decoding UTF-8 here would break on any non-Latin-1 name.
        self._headers[self._hname.decode("latin-1").lower()] = self._hvalue.decode("latin-1")
        self._hname, self._hvalue = bytearray(), bytearray()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", ""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if self._name == FILE_FIELD:
            self.files += 1
            if self.files > 1:
                raise RequestError("Send exactly one 'file' part.")
            self._is_file = True
            raw_name = extended_filename(self._headers.get("content-disposition", "")) or options.get(
                b"filename", b"upload").decode("utf-8", "replace")
            clean = "".join(ch for ch in raw_name if ch.isprintable()).replace("\\", "/")
            self.result.filename = Path(clean).name[:255] if Path(clean).name not in ("", ".", "..") else "upload"
            self.result.content_type = self._headers.get("content-type")
            if not declared_type_ok(self.result.content_type):
                raise UnsupportedMediaTypeError(
                    f"The file was sent as '{self.result.content_type}', which is not video or audio. "
                    f"Accepted: {ACCEPTED}.", declared_type=self.result.content_type,
                )
        elif self._name not in TEXT_FIELDS:
            raise RequestError(
                f"Unknown form field '{self._name}'.", allowed=[FILE_FIELD, *TEXT_FIELDS]
            )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if not self._is_file:
            self._text += chunk
            if len(self._text) > MAX_FIELD_BYTES:
                raise RequestError(f"Form field '{self._name}' is longer than {MAX_FIELD_BYTES} bytes.")
            return
        self.result.size_bytes += len(chunk)
        if self.result.size_bytes > self.max_bytes:
            raise MediaLimitError(
                f"The upload is larger than the {self.max_bytes:,}-byte limit.", limit_bytes=self.max_bytes
            )
        if not self.sniffed:
            self.head += chunk[: SNIFF_BYTES - len(self.head)]
            if len(self.head) >= SNIFF_BYTES:
                self.check_head()
        self.pending += chunk

    def on_part_end(self) -> None:
        if self._is_file:
            if not self.sniffed and self.head:
                self.check_head()
        elif self._name:
            self.result.fields[self._name] = self._text.decode("utf-8", "replace").strip()

    def check_head(self) -> None:
        self.sniffed = True
        self.result.container = sniff(bytes(self.head))
        if self.result.container is None:
            raise UnsupportedMediaTypeError(
                f"'{self.result.filename}' is not a video or audio file we accept. Accepted: {ACCEPTED}.",
                filename=self.result.filename,
            )


def _write(fh: BinaryIO, hasher: hashlib._Hash, data: bytes) -> None:
    hasher.update(data)
    fh.write(data)


async def receive(
    content_type: str, body: AsyncIterator[bytes], staged: Path, *, max_bytes: int, chunk_bytes: int
) -> StagedUpload:
    """Parse ``body`` into ``staged``; raises typed errors on bad input (the caller discards ``staged``)."""
    media_type, params = parse_options_header(content_type)
    if media_type != b"multipart/form-data" or b"boundary" not in params:
        raise UnsupportedMediaTypeError(
            "Send the upload as multipart/form-data with the media in a part named 'file'.",
            content_type=content_type or None,
        )
    rx = _Receiver(staged, max_bytes)
    callbacks = {name: getattr(rx, name) for name in (
        "on_part_begin", "on_part_data", "on_part_end", "on_header_field", "on_header_value", "on_header_end",
        "on_headers_finished",
    )}
    parser = MultipartParser(params[b"boundary"], callbacks)  # type: ignore[arg-type]
    try:
        with staged.open("wb") as fh:
            async for chunk in body:
                parser.write(chunk)
                if len(rx.pending) >= chunk_bytes:
                    data, rx.pending = bytes(rx.pending), bytearray()
                    await to_thread.run_sync(_write, fh, rx.hasher, data)
            parser.finalize()
            if rx.pending:
                await to_thread.run_sync(_write, fh, rx.hasher, bytes(rx.pending))
    except FormParserError as exc:
        raise RequestError(f"The multipart body is malformed: {exc}") from exc
    if rx.files == 0:
        raise RequestError("The upload has no 'file' part.", required=FILE_FIELD)
    rx.result.sha256 = rx.hasher.hexdigest()
    return rx.result
