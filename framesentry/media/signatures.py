"""The one table of media container signatures: which family a file's first bytes announce.

The upload path sniffs with it before a byte is kept (415 for a PDF), and the probe uses it to tell a damaged
media file from something that is not media at all; one table, so the two can never disagree.
"""

from __future__ import annotations

from typing import NamedTuple

SNIFF_BYTES = 512
"""Enough of a file's head for every signature below (MPEG-TS needs two 188-byte packets)."""

ACCEPTED = (
    "MP4/MOV/M4A/3GP, Matroska/WebM, AVI, WAV, MPEG-TS/PS, FLV, Ogg/Opus, FLAC, MP3, AAC, AIFF, CAF, AMR, WMV/ASF"
)


class ContainerFamily(NamedTuple):
    key: str
    """Short machine name, stored with an upload (e.g. ``mp4``)."""
    label: str
    """What to call it in a message (e.g. ``MP4/MOV``)."""


_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
_PREFIXES: tuple[tuple[bytes, ContainerFamily], ...] = (
    (b"\x1aE\xdf\xa3", ContainerFamily("matroska", "Matroska/WebM")),
    (b"OggS", ContainerFamily("ogg", "Ogg")),
    (b"fLaC", ContainerFamily("flac", "FLAC")),
    (b"ID3", ContainerFamily("mp3", "MP3")),
    (b"FLV", ContainerFamily("flv", "FLV")),
    (b"FORM", ContainerFamily("aiff", "AIFF")),
    (b"caff", ContainerFamily("caf", "CAF")),
    (b"#!AMR", ContainerFamily("amr", "AMR")),
    (b"\x00\x00\x01\xba", ContainerFamily("mpeg", "MPEG program stream")),
    (b"\x00\x00\x01\xb3", ContainerFamily("mpeg", "MPEG program stream")),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", ContainerFamily("asf", "Windows Media")),
)


def sniff_container(head: bytes) -> ContainerFamily | None:
    """The container family announced by the first bytes of a file, or None if they announce none."""
    if len(head) >= 8 and head[4:8] in _MP4_BOXES:
        return ContainerFamily("mp4", "MP4/MOV")
    if head.startswith(b"RIFF") and head[8:12] in (b"AVI ", b"WAVE"):
        return ContainerFamily("avi", "AVI") if head[8:12] == b"AVI " else ContainerFamily("wav", "WAV")
    for prefix, family in _PREFIXES:
        if head.startswith(prefix):
            return family
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return ContainerFamily("mpegts", "MPEG-TS")
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # MPEG audio / ADTS AAC frame sync
        return ContainerFamily("mpeg-audio", "MPEG audio/AAC")
    return None
