"""Stream time for frames received over WebRTC.

aiortc stamps each decoded frame with its RTP timestamp: a 32-bit counter that starts at a random value and
wraps (after 13 h of video at 90 kHz, 25 h of audio at 48 kHz), with a separate random origin per track. A
``FrameSink`` wants stream time in seconds from the start of the stream, the same clock for audio and video.
So each track is unwrapped and rebased to the moment the publishing session began: a track's first frame sits
at the wall-clock delay of its arrival, and later frames follow the sender's own clock. Audio and video are
therefore aligned to within network jitter (RTCP sender reports would do better; aiortc does not expose them).
"""

from __future__ import annotations

import time
from fractions import Fraction
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import av

_WRAP = 1 << 32
_HALF = 1 << 31


class TrackClock:
    """Rewrites ``frame.pts`` of one track so that ``frame.time`` is seconds since the session started."""

    def __init__(self, session_start: float) -> None:
        """``session_start`` is a ``time.monotonic()`` reading taken when the session was created."""
        self._session_start = session_start
        self._first: int | None = None
        self._last_raw = 0
        self._unwrapped = 0
        self._offset_ticks = 0

    def stamp(self, frame: av.VideoFrame | av.AudioFrame) -> None:
        """Rebase the frame in place; a frame without pts/time_base is left for the sink's wall clock."""
        raw, time_base = frame.pts, frame.time_base
        if raw is None or time_base is None:
            frame.pts = None
            return
        raw %= _WRAP
        if self._first is None:
            delay = max(0.0, time.monotonic() - self._session_start)
            self._offset_ticks = round(Fraction(delay) / Fraction(time_base))
            self._first = self._unwrapped = self._last_raw = raw
        else:
            delta = (raw - self._last_raw) % _WRAP
            if delta >= _HALF:  # an older (reordered) timestamp, not a jump of half the counter
                delta -= _WRAP
            self._unwrapped += delta
            self._last_raw = raw
        frame.pts = self._offset_ticks + self._unwrapped - self._first
