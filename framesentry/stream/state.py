"""A live stream's running judgement: the scoring core's ``Evidence`` over a rolling horizon, a smoothed verdict,
and one typed ``ScoreMessage`` per update.

Scores come back from the batchers on their worker threads (visual and audio in parallel), so every update
holds one lock; each update produces one message with a sequence number, which the session fans out to
WebSocket clients and to the score series.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from framesentry.config import Settings
from framesentry.inference.evidence import Evidence, Horizon
from framesentry.inference.scoring import FrameJob, ScoredFace, ScoredWindow, WindowJob
from framesentry.stream.hysteresis import VerdictSmoother
from framesentry.stream.messages import LiveFace, LiveModality, ScoreMessage, VerdictEvent


def _round(p: float | None, digits: int = 4) -> float | None:
    return None if p is None else round(p, digits)


class LiveState:
    """Everything a stream has concluded so far; ``visual``/``audio`` fold in a result and return the message."""

    def __init__(self, settings: Settings, stream_id: str) -> None:
        self.settings = settings
        self.stream_id = stream_id
        self.seq = 0
        self._lock = threading.Lock()
        self._evidence = Evidence(Horizon.rolling(settings))
        self._smoother = VerdictSmoother(
            real_threshold=settings.real_threshold,
            fake_threshold=settings.fake_threshold,
            alpha=settings.live_smoothing_alpha,
            dwell=settings.live_verdict_dwell,
        )

    @property
    def verdict(self) -> str:
        return self._smoother.state.value

    @property
    def p_fake(self) -> float | None:
        return self._smoother.p_fake

    def visual(self, job: FrameJob, faces: list[ScoredFace], dropped: dict[str, int]) -> ScoreMessage:
        with self._lock:
            self._evidence.add_frame(job.t_s, faces)
            return self._message("visual", job.t_s, job.closed_at, dropped)

    def audio(self, job: WindowJob, result: ScoredWindow, dropped: dict[str, int]) -> ScoreMessage:
        with self._lock:
            self._evidence.add_window(result)
            return self._message("audio", job.end_s, job.closed_at, dropped, speech=result.speech_fraction)

    def _message(
        self, kind: str, t_s: float, closed_at: float, dropped: dict[str, int], speech: float | None = None
    ) -> ScoreMessage:
        judgement = self._evidence.judge()
        events: list[VerdictEvent] = []
        if judgement.p_fake is not None:
            change = self._smoother.update(judgement.p_fake, t_s).change
            if change is not None:
                events.append(VerdictEvent(from_=change.previous, to=change.verdict,
                                           stream_t_s=round(change.stream_t_s, 3), p_fake=round(change.p_fake, 4)))
        self.seq += 1
        return ScoreMessage(
            seq=self.seq,
            stream_id=self.stream_id,
            kind="visual" if kind == "visual" else "audio",
            stream_t_s=round(t_s, 3),
            server_time=datetime.now(UTC),
            latency_ms=round((time.perf_counter() - closed_at) * 1000.0, 2),
            visual=LiveModality(status="ok" if judgement.tracks else "no_face", p_fake=_round(judgement.visual_p)),
            audio=LiveModality(status="ok" if judgement.audio_p is not None else "no_speech",
                               p_fake=_round(judgement.audio_p),
                               speech_fraction=None if speech is None else round(speech, 3)),
            faces=[LiveFace(track_id=t.track_id, p_fake=round(t.p_fake, 4), frames=t.frames, box=t.box)
                   for t in judgement.tracks],
            p_fake_window=_round(judgement.p_fake),
            p_fake=_round(self._smoother.p_fake),
            verdict=self._smoother.state,
            events=events,
            dropped=dict(dropped),
        )
