"""Media layer: container signatures, probe, streaming decode (sampled frames, 16 kHz mono audio), sampling.

Importing this package imports PyAV; import it only where media work happens (never at package import).
"""

from framesentry.media.container import format_time
from framesentry.media.decode import AudioChunk, SampledFrame, iter_audio, iter_sampled_frames, read_audio
from framesentry.media.probe import AudioInfo, MediaInfo, VideoInfo, probe

__all__ = [
    "AudioChunk",
    "AudioInfo",
    "MediaInfo",
    "SampledFrame",
    "VideoInfo",
    "format_time",
    "iter_audio",
    "iter_sampled_frames",
    "probe",
    "read_audio",
]
