"""The one conversion of any decoded audio to what the audio models take: mono float32 at 16 kHz in [-1, 1].

Uploaded files and live streams both go through ``MonoResampler``, so stereo input reaches the model the same
way on both paths. Channels are kept through FFmpeg's resampler and averaged here: FFmpeg's own mono
down-mix adds +3 dB for correlated channels, which clips loud speech; the mean is what the models were
trained on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    import av


class MonoResampler:
    """Push ``av.AudioFrame``s of any layout, rate and sample format; get mono float32 pieces at ``rate``.

    Time is the caller's business (sample counts from the first sample): input timestamps are dropped so the
    resampler never stalls or inserts silence on a publisher's clock jump.
    """

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._resampler: av.AudioResampler | None = None

    def push(self, frame: av.AudioFrame) -> list[NDArray[np.float32]]:
        if self._resampler is None:
            import av

            self._resampler = av.AudioResampler(format="fltp", rate=self.rate)
        frame.pts = None
        return [_mean_of_channels(out) for out in self._resampler.resample(frame)]

    def flush(self) -> list[NDArray[np.float32]]:
        """What the resampler still holds at the end of the input."""
        if self._resampler is None:
            return []
        return [_mean_of_channels(out) for out in self._resampler.resample(None)]


def _mean_of_channels(frame: av.AudioFrame) -> NDArray[np.float32]:
    """Planar float frame (channels, n) -> mono float32 in [-1, 1]."""
    planes = frame.to_ndarray()
    mono = planes[0] if planes.shape[0] == 1 else planes.mean(axis=0)
    return np.clip(np.asarray(mono, dtype=np.float32), -1.0, 1.0)
