"""Media layer: probe files, stream sampled frames and 16 kHz audio, and make test clips.

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
