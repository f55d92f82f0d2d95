"""What is in a media file, checked before any analysis starts.

``probe`` answers quickly (header, index, first frame of each track) and refuses files we cannot or must
not analyse with a typed error whose message a newsroom user can act on. Damage that only shows deep in
the file is caught later by the decoders.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import av.container
import av.stream
from av.audio.stream import AudioStream
from av.video.stream import VideoStream

from framesentry.config import Settings, get_settings
from framesentry.errors import CorruptMediaError, MediaLimitError, NoStreamsError
from framesentry.media.container import (
    check_file,
    declared_duration,
    failure_reason,
    format_time,
    open_input,
    pick_audio,
    pick_video,
    require_decoder,
    start_offset,
)
from framesentry.media.integrity import check_declared_size, check_index

# How many packets the first-frame check may read before giving up on a track that starts late.
_FIRST_FRAME_PACKET_BUDGET = 400


@dataclass(frozen=True)
class VideoInfo:
    """The main video track. ``width``/``height`` are as displayed (after any phone rotation)."""

    codec: str
    width: int
    height: int
    fps: float
    frame_count: int
    pixel_format: str
    rotation: int = 0


@dataclass(frozen=True)
class AudioInfo:
    """The main audio track, in its native form (decoders resample to 16 kHz mono)."""

    codec: str
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class MediaInfo:
    """Everything later stages need to plan decoding, and to show the user what they uploaded."""

    path: Path
    container_format: str
    size_bytes: int
    duration_s: float | None
    video: VideoInfo | None
    audio: AudioInfo | None

    @property
    def has_video(self) -> bool:
        return self.video is not None

    @property
    def has_audio(self) -> bool:
        return self.audio is not None


def _mb(n: int) -> str:
    return f"{n / 1024**2:,.0f} MB" if n >= 1024**2 else f"{n:,} bytes"


def _duration(container: av.container.InputContainer, streams: list[VideoStream | AudioStream]) -> float | None:
    declared = declared_duration(container)
    if declared is not None:
        return declared
    spans = [float(s.duration * s.time_base) for s in streams if s.duration and s.time_base is not None]
    return max(spans) if spans else None


def _check_first_frames(
    path: Path, container: av.container.InputContainer, streams: dict[str, VideoStream | AudioStream]
) -> tuple[dict[str, int], bool]:
    """Decode the first frame of each track: proves the data is really decodable and reads rotation.

    Returns ``({kind: rotation_degrees (0 for audio)}`` for each track that produced a frame, and whether the
    whole file was read while looking (then a track without frames is truly empty).
    """
    pending = {stream.index: kind for kind, stream in streams.items()}
    seen: dict[str, int] = {}
    for s in streams.values():
        s.codec_context.thread_type = "AUTO"
    exhausted = True
    try:
        for n, packet in enumerate(container.demux(list(streams.values()))):
            if n >= _FIRST_FRAME_PACKET_BUDGET or not pending:
                exhausted = False
                break
            kind = pending.get(packet.stream.index)
            if kind is None:
                continue
            for frame in packet.decode():
                seen[kind] = int(getattr(frame, "rotation", 0) or 0) if kind == "video" else 0
                pending.pop(packet.stream.index, None)
                break
    except av.FFmpegError as exc:
        kinds = " and ".join(pending.values()) or "media"
        raise CorruptMediaError(
            f"The {kinds} data at the start of '{path.name}' is damaged and cannot be decoded. "
            "The file may be corrupt or only partly uploaded.",
            reason=failure_reason(exc),
        ) from exc
    return seen, exhausted


def _video_info(stream: VideoStream, rotation: int, duration: float | None) -> VideoInfo:
    cc = stream.codec_context
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    frames = int(stream.frames or 0)
    if frames <= 0 and duration and fps:
        frames = round(duration * fps)
    width, height = int(cc.width), int(cc.height)
    rot = ((rotation % 360) + 360) % 360
    if rot in (90, 270):
        width, height = height, width
    pix = cc.pix_fmt or "unknown"
    return VideoInfo(cc.codec.canonical_name, width, height, round(fps, 3), frames, str(pix), rot)


def _audio_info(stream: AudioStream) -> AudioInfo:
    cc = stream.codec_context
    return AudioInfo(cc.codec.canonical_name, int(cc.sample_rate or 0), int(cc.channels or 0))


def _check_caps(path: Path, info: MediaInfo, settings: Settings) -> None:
    if info.duration_s is not None and info.duration_s > settings.max_duration_s:
        raise MediaLimitError(
            f"'{path.name}' is {format_time(info.duration_s)} long; the limit is "
            f"{format_time(settings.max_duration_s)}. Please trim it or split it into shorter parts.",
            duration_s=info.duration_s,
            limit_s=settings.max_duration_s,
        )
    v = info.video
    if v is not None and (v.width > settings.max_width or v.height > settings.max_height):
        raise MediaLimitError(
            f"'{path.name}' is {v.width}x{v.height} pixels; the largest accepted picture is "
            f"{settings.max_width}x{settings.max_height}. Please export it at a lower resolution.",
            width=v.width,
            height=v.height,
        )
    if v is not None:
        _check_decode_cost(path, v, info.duration_s, settings)


ASSUMED_FPS = 30.0
"""Frame rate assumed for the cost check when the container does not say."""


def _check_decode_cost(path: Path, v: VideoInfo, duration_s: float | None, settings: Settings) -> None:
    """Every frame is decoded (sampling happens after decoding), so the worker time a file costs grows with its
    decoded pixels, not its bytes: an 800 KB 8K clip of a still picture costs minutes. Cap both the rate and
    the total."""
    fps = v.fps if v.fps and v.fps > 0 else ASSUMED_FPS
    rate = v.width * v.height * fps
    if rate > settings.max_pixels_per_s:
        raise MediaLimitError(
            f"'{path.name}' is {v.width}x{v.height} at {fps:g} fps, {rate / 1e6:,.0f} M pixels per second to "
            f"decode; the limit is {settings.max_pixels_per_s / 1e6:,.0f} M. Please export it at a lower resolution "
            "or frame rate.",
            pixels_per_s=rate, limit_pixels_per_s=settings.max_pixels_per_s,
        )
    frames = v.frame_count if v.frame_count > 0 else (duration_s or 0.0) * fps
    total = v.width * v.height * frames
    if total > settings.max_total_pixels:
        raise MediaLimitError(
            f"'{path.name}' has {total / 1e9:,.1f} G pixels to decode; the limit is "
            f"{settings.max_total_pixels / 1e9:,.1f} G. Please trim it or lower its resolution or frame rate.",
            total_pixels=total, limit_total_pixels=settings.max_total_pixels,
        )


def _check_pixels_early(path: Path, stream: VideoStream, settings: Settings) -> None:
    """Refuse absurd resolutions before decoding a single (possibly gigantic) frame."""
    w, h = int(stream.codec_context.width), int(stream.codec_context.height)
    if w * h > settings.max_width * settings.max_height:
        raise MediaLimitError(
            f"'{path.name}' is {w}x{h} pixels; the largest accepted picture is "
            f"{settings.max_width}x{settings.max_height}. Please export it at a lower resolution.",
            width=w,
            height=h,
        )


def probe(path: Path, settings: Settings | None = None) -> MediaInfo:
    """Describe ``path`` or raise a typed ``MediaError`` saying, in plain words, why it cannot be used."""
    settings = settings or get_settings()
    path = Path(path)
    size = check_file(path)
    if size > settings.max_file_bytes:
        raise MediaLimitError(
            f"'{path.name}' is {_mb(size)}; the largest accepted file is {_mb(settings.max_file_bytes)}. "
            "Please upload a shorter or more compressed version.",
            size_bytes=size,
            limit_bytes=settings.max_file_bytes,
        )
    with open_input(path) as container:
        vstream, astream = pick_video(container), pick_audio(container)
        streams: dict[str, VideoStream | AudioStream] = {}
        if vstream is not None:
            streams["video"] = vstream
        if astream is not None:
            streams["audio"] = astream
        if not streams:
            others: list[str] = sorted({str(s.type) for s in container.streams}) or ["nothing"]
            raise NoStreamsError(
                f"'{path.name}' contains no video and no audio (only {', '.join(others)}). "
                "Please upload a file with a picture or sound track.",
                stream_types=others,
            )
        for kind, stream in streams.items():
            require_decoder(path, stream, kind)
        if vstream is not None:
            _check_pixels_early(path, vstream, settings)
        duration = _duration(container, list(streams.values()))
        check_index(path, size, list(streams.values()), start_offset(container))
        check_declared_size(path, size, duration)
        seen, exhausted = _check_first_frames(path, container, streams)
        if exhausted:  # the whole file was read: a track that gave no frame holds no data at all
            vstream = vstream if "video" in seen else None
            astream = astream if "audio" in seen else None
            if vstream is None and astream is None:
                raise NoStreamsError(
                    f"'{path.name}' has {' and '.join(streams)} tracks but they contain no pictures or sound. "
                    "Please check the export and upload it again.",
                    stream_types=list(streams),
                )
        info = MediaInfo(
            path=path,
            container_format=container.format.name,
            size_bytes=size,
            duration_s=round(duration, 3) if duration is not None else None,
            video=_video_info(vstream, seen.get("video", 0), duration) if vstream is not None else None,
            audio=_audio_info(astream) if astream is not None else None,
        )
    _check_caps(path, info, settings)
    return info
