"""Decode the FLV audio/video tag bodies that RTMP messages carry into PyAV frames, one stream at a time.

RTMP already delivers one access unit per message with its timestamp, so packets go straight into PyAV codec
contexts (no FLV re-muxing and demuxing): H.264 gets the AVCDecoderConfigurationRecord of the sequence header
as extradata and then length-prefixed (AVCC) NAL units; AAC gets its AudioSpecificConfig and then raw frames;
MP3 frames need no configuration. Timestamps are RTMP milliseconds, so every packet and frame has time base
1/1000 and ``frame.time`` is the stream time in seconds (video: dts + composition offset).

Not thread-safe; the RTMP session calls one instance from one worker thread at a time. Decoders run with one
thread each: parallelism comes from many streams, and frame threading would add latency.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

from framesentry.errors import CorruptMediaError, UnsupportedCodecError

if TYPE_CHECKING:
    import av
    from av.audio.codeccontext import AudioCodecContext
    from av.video.codeccontext import VideoCodecContext

    Decoder = AudioCodecContext | VideoCodecContext

MS = Fraction(1, 1000)
_VIDEO_CODECS = {2: "Sorenson H.263", 3: "screen video", 4: "VP6", 5: "VP6 alpha", 6: "screen video 2", 7: "avc"}
_AUDIO_CODECS = {
    0: "PCM",
    1: "ADPCM",
    2: "mp3",
    3: "PCM LE",
    4: "Nellymoser",
    5: "Nellymoser",
    6: "Nellymoser",
    7: "G.711 A-law",
    8: "G.711 mu-law",
    10: "aac",
    11: "Speex",
    14: "mp3 8 kHz",
}
_VIDEO_INFO_FRAME = 5
MAX_BAD_PACKETS = 30  # consecutive undecodable packets (about a second) before the stream is given up


class FlvDecoder:
    """Turns FLV VIDEODATA/AUDIODATA bodies into frames; media before its sequence header is skipped."""

    def __init__(self) -> None:
        self._video: Decoder | None = None
        self._audio: Decoder | None = None
        self.video_frames = 0
        self.audio_frames = 0
        self.bad_packets = 0
        self._bad_run = 0

    def video(self, timestamp_ms: int, body: bytes) -> list[av.VideoFrame]:
        """Frames decoded from one video message (often zero or one)."""
        if len(body) < 1:
            return []
        if body[0] & 0x80:
            raise UnsupportedCodecError(f"enhanced-RTMP video ({body[1:5]!r}) is not supported; send H.264")
        frame_type, codec_id = body[0] >> 4, body[0] & 0x0F
        if frame_type == _VIDEO_INFO_FRAME:
            return []
        if codec_id != 7:
            name = _VIDEO_CODECS.get(codec_id, f"id {codec_id}")
            raise UnsupportedCodecError(f"RTMP video codec {name} is not supported; send H.264")
        if len(body) < 5:
            raise CorruptMediaError("truncated AVC video message")
        packet_type = body[1]
        cts = int.from_bytes(body[2:5], "big", signed=True)
        if packet_type == 0:
            self._video = _open_decoder("h264", body[5:])
            return []
        if packet_type != 1 or self._video is None or len(body) == 5:
            return []  # end of sequence, or NAL units we cannot decode before a sequence header
        frames = self._decode(self._video, body[5:], timestamp_ms + cts, timestamp_ms)
        self.video_frames += len(frames)
        return frames

    def audio(self, timestamp_ms: int, body: bytes) -> list[av.AudioFrame]:
        """Frames decoded from one audio message."""
        if len(body) < 2:
            return []
        fmt = body[0] >> 4
        if fmt == 10:  # AAC: a packet-type byte, then AudioSpecificConfig (0) or a raw frame (1)
            if body[1] == 0:
                self._audio = _open_decoder("aac", body[2:])
                return []
            payload = body[2:]
        elif fmt in (2, 14):
            if self._audio is None:
                self._audio = _open_decoder("mp3", b"")
            payload = body[1:]
        else:
            raise UnsupportedCodecError(f"RTMP audio codec {_AUDIO_CODECS.get(fmt, fmt)} is not supported")
        if self._audio is None or not payload:
            return []
        frames = self._decode(self._audio, payload, timestamp_ms, timestamp_ms)
        self.audio_frames += len(frames)
        return frames

    def _decode(self, ctx: Decoder, data: bytes, pts: int, dts: int) -> list[Any]:
        """Decode one packet. A lost or damaged packet is skipped (the decoder conceals it and recovers at the
        next keyframe), as players do; only a run of ``MAX_BAD_PACKETS`` means the stream is not decodable."""
        import av

        packet = av.Packet(data)
        packet.pts, packet.dts, packet.time_base = pts, dts, MS
        try:
            frames = list(ctx.decode(packet))
        except av.FFmpegError as exc:
            self.bad_packets += 1
            self._bad_run += 1
            if self._bad_run >= MAX_BAD_PACKETS:
                raise CorruptMediaError(f"{self._bad_run} undecodable {ctx.name} packets in a row: {exc}") from exc
            return []
        self._bad_run = 0
        return frames

    def flush(self) -> tuple[list[av.VideoFrame], list[av.AudioFrame]]:
        """Frames the decoders still hold (call once, at the end of the stream)."""
        video = _drain(self._video) if self._video is not None else []
        audio = _drain(self._audio) if self._audio is not None else []
        self.video_frames += len(video)
        self.audio_frames += len(audio)
        return video, audio

    def close(self) -> None:
        """Drop the codec contexts (libav frees them when the last reference goes)."""
        self._video = self._audio = None


def _open_decoder(name: str, extradata: bytes) -> Decoder:
    import av
    from av.audio.codeccontext import AudioCodecContext
    from av.video.codeccontext import VideoCodecContext

    ctx = av.CodecContext.create(name, "r")
    assert isinstance(ctx, AudioCodecContext | VideoCodecContext)
    if extradata:
        ctx.extradata = extradata
    ctx.thread_count = 1
    try:
        ctx.open()
    except av.FFmpegError as exc:
        raise CorruptMediaError(f"cannot open the {name} decoder from the stream's configuration: {exc}") from exc
    return ctx


def _drain(ctx: Decoder) -> list[Any]:
    import av

    try:
        frames = list(ctx.decode(None))
    except av.FFmpegError:
        return []  # a decoder that cannot flush has nothing worth delivering
    for frame in frames:
        frame.time_base = MS  # PyAV takes it from the (empty) flush packet, which has none
    return frames
