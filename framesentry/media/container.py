"""Opening media files with PyAV and turning FFmpeg's failures into typed, readable errors.

Shared by ``probe`` and ``decode`` so both classify a bad file the same way. PyAV raises the same
``InvalidDataError`` for a text file and for an MP4 whose index was cut off, so we sniff the first bytes
to tell "not media at all" from "media that is damaged".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import av
import av.container
import av.stream
from av.audio.stream import AudioStream
from av.video.stream import VideoStream

from framesentry.errors import (
    CorruptMediaError,
    EmptyMediaError,
    NotFoundError,
    NotMediaError,
    UnsupportedCodecError,
)
from framesentry.media.signatures import SNIFF_BYTES, sniff_container

ACCEPTED_HINT = "Please upload a video (MP4, MOV, MKV, WebM, AVI) or an audio file (WAV, MP3, M4A, FLAC, OGG)."

_VIDEO_EXTS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".ts", ".mts", ".m2ts", ".mpg")
_AUDIO_EXTS = (".mpeg", ".3gp", ".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".oga", ".opus", ".wma", ".aiff")
MEDIA_EXTENSIONS = frozenset((*_VIDEO_EXTS, *_AUDIO_EXTS, ".aif"))


def format_time(seconds: float) -> str:
    """``83.25`` -> ``"1:23.2"``; short times stay in seconds so messages read naturally."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)}:{secs:04.1f}"
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:04.1f}"


def _describe_non_media(head: bytes) -> str:
    """A human guess at what a non-media file is, for the error message."""
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive or Office document"
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8")):
        return "an image"
    low = head.lstrip().lower()
    if low.startswith((b"<!doctype html", b"<html")):
        return "a web page (HTML)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "unrecognised binary data"
    if text and all(ch.isprintable() or ch in "\r\n\t" for ch in text):
        return "a text file"
    return "unrecognised data"


def failure_reason(exc: Exception) -> str:
    """FFmpeg's reason for logs and error details, without the server-side path it usually includes."""
    strerror = getattr(exc, "strerror", None)
    return f"{type(exc).__name__}: {strerror}" if strerror else type(exc).__name__


def _classify_open_failure(path: Path, exc: Exception) -> Exception:
    """Map an ``av.open`` failure to NotMediaError (not media at all) or CorruptMediaError (damaged)."""
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    family = sniff_container(head)
    if family is not None:
        return CorruptMediaError(
            f"'{path.name}' looks like a {family.label} file but it is damaged or incomplete and cannot be opened "
            "(for example, an upload that was cut off before it finished). Try exporting or uploading it again.",
            container=family.label,
            reason=failure_reason(exc),
        )
    what = _describe_non_media(head)
    ext = path.suffix.lower()
    if ext in MEDIA_EXTENSIONS:
        msg = (
            f"'{path.name}' is named like a {ext} media file, but its contents are {what}, not video or audio. "
            f"{ACCEPTED_HINT}"
        )
    else:
        msg = f"'{path.name}' is not a video or audio file (it looks like {what}). {ACCEPTED_HINT}"
    return NotMediaError(msg, looks_like=what, reason=failure_reason(exc))


def check_file(path: Path) -> int:
    """Fail early with a clear error for a missing, non-regular or empty file; return its size in bytes."""
    if not path.exists():
        raise NotFoundError(f"The file '{path}' does not exist.", file=path.name)
    if not path.is_file():
        raise NotMediaError(f"'{path}' is a folder or special file, not a media file. {ACCEPTED_HINT}")
    size = path.stat().st_size
    if size == 0:
        raise EmptyMediaError(
            f"'{path.name}' is empty (0 bytes). The upload may have failed; please try again.", file=path.name
        )
    return size


@contextmanager
def open_input(path: Path) -> Iterator[av.container.InputContainer]:
    """Open ``path`` for reading and always close it; open failures become typed media errors."""
    path = Path(path)
    check_file(path)
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise _classify_open_failure(path, exc) from exc
    except (UnicodeDecodeError, ValueError) as exc:  # odd metadata or a format PyAV refuses
        raise _classify_open_failure(path, exc) from exc
    try:
        yield container
    finally:
        container.close()


def pick_video(container: av.container.InputContainer) -> VideoStream | None:
    """The main video track: default-flagged first, ignoring album-art pictures in audio files."""
    candidates = [
        s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)
    ]
    candidates.sort(key=lambda s: not (s.disposition & av.stream.Disposition.default))
    return candidates[0] if candidates else None


def pick_audio(container: av.container.InputContainer) -> AudioStream | None:
    """The main audio track: default-flagged first."""
    candidates = list(container.streams.audio)
    candidates.sort(key=lambda s: not (s.disposition & av.stream.Disposition.default))
    return candidates[0] if candidates else None


def start_offset(container: av.container.InputContainer) -> float:
    """Common time origin (seconds) so frame and audio timestamps from one file line up from 0."""
    start = container.start_time
    return float(start) / av.time_base if start is not None else 0.0


def require_decoder(path: Path, stream: VideoStream | AudioStream, kind: str) -> None:
    """A track whose codec this FFmpeg build cannot decode has no codec context: say so plainly."""
    if stream.codec_context is None:
        raise UnsupportedCodecError(
            f"The {kind} track of '{path.name}' uses a format FrameSentry cannot decode. "
            "Please convert it to a common format (for example H.264 video with AAC audio in an MP4) "
            "and upload it again.",
            track=kind,
        )


def declared_duration(container: av.container.InputContainer) -> float | None:
    """Duration in seconds from the container header, if it gives one."""
    if container.duration is not None and container.duration > 0:
        return float(container.duration) / av.time_base
    return None
