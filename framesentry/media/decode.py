"""Streaming decoders: sampled RGB frames and 16 kHz mono audio, one piece at a time.

Nothing here loads a whole file: a one-hour video is read packet by packet and only the frames that are
kept are converted to RGB, so memory stays at a few frames whatever the length. Damage found mid-stream
becomes a ``CorruptMediaError`` that says where the file broke.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

from framesentry.errors import CorruptMediaError, NoStreamsError
from framesentry.media.container import (
    declared_duration,
    failure_reason,
    format_time,
    open_input,
    pick_audio,
    pick_video,
    require_decoder,
    start_offset,
)
from framesentry.media.integrity import check_data_end
from framesentry.media.mono import MonoResampler
from framesentry.media.sampling import FrameSampler


@dataclass(frozen=True, eq=False)
class SampledFrame:
    """One kept frame. ``index`` counts kept frames from 0; ``t_s`` is its presentation time in seconds."""

    index: int
    t_s: float
    rgb: NDArray[np.uint8] = field(repr=False)


@dataclass(frozen=True, eq=False)
class AudioChunk:
    """Consecutive mono float32 samples in [-1, 1] starting ``start_s`` seconds into the file."""

    start_s: float
    samples: NDArray[np.float32] = field(repr=False)
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


def _packet_end(packet: av.Packet, t0: float) -> float:
    """Presentation end of a packet in seconds from the file start (0 when it carries no timestamp)."""
    if packet.pts is None or packet.time_base is None:
        return 0.0
    return float((packet.pts + (packet.duration or 0)) * packet.time_base) - t0


def _broken(path: Path, kind: str, at_s: float, exc: Exception) -> CorruptMediaError:
    return CorruptMediaError(
        f"The {kind} in '{path.name}' is damaged at about {format_time(at_s)} and cannot be read past that "
        "point. The file may be corrupt or only partly uploaded; please upload a complete copy.",
        at_s=round(at_s, 3),
        reason=failure_reason(exc),
    )


def _out_size(width: int, height: int, max_side: int | None) -> tuple[int, int] | None:
    """Target (width, height) when downscaling is needed, else None (keeps aspect, never upscales)."""
    if max_side is None or max(width, height) <= max_side:
        return None
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _to_rgb(frame: av.VideoFrame, max_side: int | None) -> NDArray[np.uint8]:
    """Scale and convert in one swscale pass, then apply the display rotation (phones film sideways)."""
    size = _out_size(frame.width, frame.height, max_side)
    if size is None:
        rgb: NDArray[np.uint8] = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
    else:
        scaled = frame.to_ndarray(format="rgb24", width=size[0], height=size[1], interpolation="AREA")
        rgb = np.asarray(scaled, dtype=np.uint8)
    turns = round((frame.rotation or 0) / 90) % 4
    if turns:
        rgb = np.rot90(rgb, k=turns)
    return np.ascontiguousarray(rgb)  # padded rows come back as strided views; models want contiguous


def iter_sampled_frames(
    path: Path, sample_fps: float, max_side: int | None = None, *, skip_unused: bool = True
) -> Iterator[SampledFrame]:
    """Yield the first frame at or after each instant 0, 1/sample_fps, 2/sample_fps, ... (never a frame twice).

    Frames are picked by presentation time with ``FrameSampler``, the rule the live path uses too. Only kept
    frames are converted to RGB. With ``skip_unused`` the decoder is told to drop non-reference frames far
    from any sampling instant; the frames kept are always decoded, so they are bit-identical to a full decode.
    """
    if not sample_fps > 0:
        raise ValueError("sample_fps must be positive")
    path = Path(path)
    with open_input(path) as container:
        stream = pick_video(container)
        if stream is None:
            raise NoStreamsError(f"'{path.name}' has no picture (video) track to analyse.")
        require_decoder(path, stream, "video")
        cc = stream.codec_context
        cc.thread_type = "AUTO"
        tb = float(stream.time_base) if stream.time_base is not None else 1.0 / 90000
        t0 = start_offset(container)
        rate = stream.average_rate or stream.guessed_rate
        frame_d = 1.0 / float(rate) if rate else 1.0 / 30.0
        period = 1.0 / sample_fps
        may_skip = skip_unused and period >= 3 * frame_d
        sampler = FrameSampler(sample_fps)
        kept = 0
        last_t = 0.0
        data_end = 0.0
        first = True
        try:
            # Demux every track (the bytes are read anyway) so the end of data can be checked; decode one.
            for packet in container.demux():
                data_end = max(data_end, _packet_end(packet, t0))
                if packet.stream.index != stream.index:
                    continue
                if may_skip and packet.pts is not None:
                    pt = packet.pts * tb - t0
                    pd = packet.duration * tb if packet.duration else frame_d
                    # Decode fully near a sampling instant (a frame of slack each side), else drop non-refs.
                    k = max(0, math.ceil((pt - 2 * pd) * sample_fps))
                    needed = first or k * period < pt + 3 * pd
                    cc.skip_frame = "DEFAULT" if needed else "NONREF"
                for frame in cc.decode(packet):
                    if frame.pts is None:
                        continue
                    t = frame.pts * tb - t0
                    last_t = max(last_t, t)
                    if sampler.keep(t):
                        yield SampledFrame(kept, round(max(t, 0.0), 6), _to_rgb(frame, max_side))
                        kept += 1
                    first = False
        except av.FFmpegError as exc:
            raise _broken(path, "video", last_t, exc) from exc
        check_data_end(path, data_end, declared_duration(container))


def iter_audio(path: Path, sample_rate: int = 16000, chunk_s: float = 10.0) -> Iterator[AudioChunk]:
    """Yield the main audio track as mono float32 chunks of ``chunk_s`` seconds (the last may be shorter).

    ``MonoResampler`` changes the rate and averages the channels (the conversion the live path uses
    too). Chunks are contiguous: ``start_s`` of chunk
    n+1 is ``start_s + duration_s`` of chunk n, counted from the first audio sample's presentation time.
    """
    if not chunk_s > 0:
        raise ValueError("chunk_s must be positive")
    path = Path(path)
    chunk_n = max(1, round(chunk_s * sample_rate))
    with open_input(path) as container:
        stream = pick_audio(container)
        if stream is None:
            raise NoStreamsError(f"'{path.name}' has no sound (audio) track to analyse.")
        require_decoder(path, stream, "audio")
        cc = stream.codec_context
        cc.thread_type = "AUTO"
        t0 = start_offset(container)
        to_mono = MonoResampler(sample_rate)
        parts: list[NDArray[np.float32]] = []
        buffered = 0
        emitted = 0
        first_s: float | None = None
        at_s = 0.0
        data_end = 0.0

        def pieces() -> Iterator[NDArray[np.float32]]:
            nonlocal first_s, at_s, data_end
            for packet in container.demux():
                data_end = max(data_end, _packet_end(packet, t0))
                if packet.stream.index != stream.index:
                    continue
                for frame in cc.decode(packet):
                    if first_s is None:
                        first_s = max(0.0, float(frame.time) - t0) if frame.time is not None else 0.0
                    if frame.time is not None:
                        at_s = float(frame.time) - t0
                    yield from to_mono.push(frame)
            yield from to_mono.flush()

        def take(n: int) -> AudioChunk:
            nonlocal parts, buffered, emitted
            data = parts[0] if len(parts) == 1 else np.concatenate(parts)
            chunk, rest = data[:n], data[n:]
            parts, buffered = ([rest] if len(rest) else []), len(rest)
            start = (first_s or 0.0) + emitted / sample_rate
            emitted += len(chunk)
            return AudioChunk(round(start, 6), chunk, sample_rate)

        try:
            for piece in pieces():
                parts.append(piece)
                buffered += len(piece)
                while buffered >= chunk_n:
                    yield take(chunk_n)
        except av.FFmpegError as exc:
            raise _broken(path, "audio", at_s, exc) from exc
        if buffered:
            yield take(buffered)
        check_data_end(path, data_end, declared_duration(container))


def read_audio(path: Path, sample_rate: int = 16000, max_s: float | None = None) -> NDArray[np.float32]:
    """Whole (or first ``max_s`` seconds of) audio as one mono float32 array: for short clips only."""
    limit = None if max_s is None else max(0, round(max_s * sample_rate))
    chunk_s = 10.0 if max_s is None else max(min(10.0, max_s), 1.0 / sample_rate)
    parts: list[NDArray[np.float32]] = []
    total = 0
    for chunk in iter_audio(path, sample_rate=sample_rate, chunk_s=chunk_s):
        parts.append(chunk.samples)
        total += len(chunk.samples)
        if limit is not None and total >= limit:
            break
    audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return audio[:limit] if limit is not None else audio


def frames_at(path: Path, times_s: list[float], tolerance_s: float = 1e-3) -> dict[float, NDArray[np.uint8]]:
    """The RGB frames whose presentation times are ``times_s`` (as ``iter_sampled_frames`` reported them),
    found by seeking to the keyframe before each one, so a few frames are decoded per time, not the whole file.
    Times with no such frame are left out. Used by the deep pass to re-read the frames it explains.
    """
    out: dict[float, NDArray[np.uint8]] = {}
    with open_input(Path(path)) as container:
        stream = pick_video(container)
        if stream is None or stream.time_base is None:
            return out
        tb = float(stream.time_base)
        t0 = start_offset(container)
        for target in sorted(set(times_s)):
            container.seek(max(0, int((target + t0 - 0.05) / tb)), stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                t = frame.pts * tb - t0
                if abs(t - target) <= tolerance_s:
                    out[target] = _to_rgb(frame, None)
                    break
                if t > target + tolerance_s:
                    break
    return out
