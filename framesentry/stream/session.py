"""One live stream: the ``FrameSink`` an ingest feeds, from decoded frames to published score messages.

The ingest thread only samples, converts and hands work to the process's ``BatchedScorer`` in its live lane
(never waits for a model); results come back on the batchers' threads and go through ``LiveState`` to
``emit``. Sampling (``media.sampling``), the mono 16 kHz conversion (``media.mono``), the audio windows and
the scoring core are the ones uploads use. Time: each track's
clock is re-based to the session's start (RTP clocks start anywhere), so audio and video share one axis.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from framesentry.config import Settings
from framesentry.errors import FrameSentryError
from framesentry.inference.audio.streaming import WindowCutter
from framesentry.inference.batching import BatchedScorer
from framesentry.inference.scoring import FrameJob, ScoredFace, ScoredWindow, WindowJob
from framesentry.media.mono import MonoResampler
from framesentry.media.sampling import FrameSampler
from framesentry.stream.admission import Admission
from framesentry.stream.hooks import OnFake, fake_frame
from framesentry.stream.messages import ScoreMessage
from framesentry.stream.state import LiveState

if TYPE_CHECKING:
    import av

log = logging.getLogger(__name__)


class StreamEndedError(FrameSentryError):
    """Media pushed into a session that was stopped (e.g. ``DELETE /v1/streams/{id}``): the ingest hangs up."""

    code = "stream_ended"
    http_status = 409


@dataclass
class _Clock:
    """Maps a stream's timestamps onto session time (seconds since the session opened): the first timestamp
    seen sits at its arrival delay, later ones follow the sender's clock."""

    opened_at: float
    first_pts_s: float | None = None
    offset_s: float = 0.0

    def __call__(self, pts_s: float | None) -> float:
        now = time.perf_counter() - self.opened_at
        if pts_s is None:
            return now
        if self.first_pts_s is None:
            self.first_pts_s, self.offset_s = pts_s, now if now > 0.5 else 0.0
        return self.offset_s + (pts_s - self.first_pts_s)


class LiveSession:
    """Implements ``framesentry.stream.source.FrameSink`` for one publisher."""

    def __init__(
        self,
        settings: Settings,
        scorer: BatchedScorer,
        *,
        stream_id: uuid.UUID,
        key_id: int | None,
        source: str,
        emit: Callable[[LiveSession, ScoreMessage], None],
        on_close: Callable[[LiveSession, str], None],
        on_fake: OnFake | None = None,
    ) -> None:
        self.settings = settings
        self.id = stream_id
        self.key_id = key_id
        self.source = source
        self.state = LiveState(settings, str(stream_id))
        self.end_reason: str | None = None
        self._emit = emit
        self._on_close = on_close
        self._on_fake = on_fake  # EXPLAIN HOOK (stream/hooks.py): the frame that turned the verdict Fake
        self._last_faces: tuple[float, np.ndarray, list[ScoredFace]] | None = None
        self._opened = time.perf_counter()
        # One clock for both tracks: RTMP stamps audio and video on one time base, and WHIP's TrackClock has
        # already put each track on seconds since the session began; re-basing each alone would skew them.
        self._clock = _Clock(self._opened)
        self._sampler = FrameSampler(settings.live_visual_fps)
        rate = settings.audio_sample_rate
        self._cutter = WindowCutter(rate, settings.audio_window_samples, round(settings.live_audio_stride_s * rate))
        self._audio_t0: float | None = None
        self._to_mono = MonoResampler(rate)
        self._close_lock = threading.Lock()
        self.visual = Admission[FrameJob, list[ScoredFace]](
            scorer.submit_frame, self._visual_done, self._failed, settings.live_max_inflight
        )
        self.audio = Admission[WindowJob, ScoredWindow](
            scorer.submit_window, self._audio_done, self._failed, settings.live_max_inflight
        )

    @property
    def live(self) -> bool:
        return self.end_reason is None

    def dropped(self) -> dict[str, int]:
        return {"visual": self.visual.dropped, "audio": self.audio.dropped}

    def totals(self) -> dict[str, Any]:
        """Headline numbers of the session, as the stream's row stores them."""
        return {
            "verdict": self.state.verdict,
            "p_fake": self.state.p_fake,
            "windows_scored": self.state.seq,
            "windows_dropped": sum(self.dropped().values()),
        }

    # --- FrameSink -------------------------------------------------------------------------------------

    def push_video(self, frame: av.VideoFrame) -> None:
        self._check_open()
        t_s = self._clock(frame.time)
        if not self._sampler.keep(t_s):
            return
        rgb = np.ascontiguousarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
        self.visual.offer(FrameJob(t_s, rgb, self.settings.live_face_min_size_px))

    def push_audio(self, frame: av.AudioFrame) -> None:
        self._check_open()
        t_s = self._clock(frame.time)
        if self._audio_t0 is None:
            self._audio_t0 = t_s
        for mono in self._to_mono.push(frame):
            for window in self._cutter.push(mono):
                start = self._audio_t0 + window.start_s
                self.audio.offer(WindowJob(start, self._audio_t0 + window.end_s, window.samples))

    def close(self, reason: str) -> None:
        with self._close_lock:
            if self.end_reason is not None:
                return
            self.end_reason = reason
        self.visual.close()
        self.audio.close()
        self._on_close(self, reason)

    def stop(self, reason: str = "stopped") -> None:
        """End the session from the server side; the ingest's next push raises ``StreamEndedError``."""
        self.close(reason)

    # --- internals ------------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.end_reason is not None:
            raise StreamEndedError(f"stream {self.id} has ended ({self.end_reason})")

    def _visual_done(self, job: FrameJob, faces: list[ScoredFace]) -> None:
        if faces:
            self._last_faces = (job.t_s, job.rgb, faces)
        self._publish(self.state.visual(job, faces, self.dropped()))

    def _audio_done(self, job: WindowJob, result: ScoredWindow) -> None:
        self._publish(self.state.audio(job, result, self.dropped()))

    def _publish(self, message: ScoreMessage) -> None:
        if self._on_fake is not None and (work := fake_frame(self.id, message, self._last_faces)) is not None:
            self._on_fake(work)  # EXPLAIN HOOK: returns at once, the heat map is made off the live path
        self._emit(self, message)

    def _failed(self, item: object, exc: BaseException) -> None:
        log.warning("stream %s: scoring %s failed: %s", self.id, type(item).__name__, exc)
