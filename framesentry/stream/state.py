"""A live stream's running judgement: tracks, rolling per-modality scores, smoothed verdict, messages.

Scores come back from the batchers on their worker threads (visual and audio in parallel), so every update
holds one lock; each update produces one message with a sequence number, which the session fans out to
WebSocket clients and to the score series.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from framesentry.config import Settings
from framesentry.inference.faces import FaceTracker
from framesentry.inference.fusion import fuse_modalities, track_score
from framesentry.stream.hysteresis import VerdictSmoother
from framesentry.stream.scorer import AudioItem, AudioResult, FaceResult, VisualItem

TRACK_TTL_S = 2.0  # a face not seen for this long no longer counts towards the live visual score
AUDIO_TTL_S = 6.0  # audio scores older than this (stream time) no longer count


@dataclass
class _Track:
    scores: deque[float]
    last_seen_s: float
    box: tuple[int, int, int, int]


@dataclass
class LiveState:
    """Everything a stream has concluded so far; ``visual``/``audio`` return the message to publish."""

    settings: Settings
    stream_id: str
    seq: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _tracker: FaceTracker = field(default_factory=FaceTracker)
    _tracks: dict[int, _Track] = field(default_factory=dict)
    _audio: deque[tuple[float, float]] = field(default_factory=deque)  # (end_s, p_fake) of speech windows
    _smoother: VerdictSmoother = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self._smoother = VerdictSmoother(
            real_threshold=s.real_threshold,
            fake_threshold=s.fake_threshold,
            alpha=s.live_smoothing_alpha,
            dwell=s.live_verdict_dwell,
        )

    @property
    def verdict(self) -> str:
        return self._smoother.state.value

    @property
    def p_fake(self) -> float | None:
        return self._smoother.p_fake

    def visual(self, item: VisualItem, faces: list[FaceResult], dropped: dict[str, int]) -> dict[str, Any]:
        with self._lock:
            ids = self._tracker.update(item.t_s, [f.box for f in faces])
            window = self.settings.live_visual_window_frames
            for face, tid in zip(faces, ids, strict=True):
                box = (int(face.box.x1), int(face.box.y1), int(face.box.x2), int(face.box.y2))
                track = self._tracks.setdefault(tid, _Track(deque(maxlen=window), item.t_s, box))
                track.scores.append(face.p_fake)
                track.last_seen_s, track.box = item.t_s, box
            for tid in [t for t, tr in self._tracks.items() if item.t_s - tr.last_seen_s > TRACK_TTL_S]:
                del self._tracks[tid]
            return self._message("visual", item.t_s, item.closed_at, dropped)

    def audio(self, item: AudioItem, result: AudioResult, dropped: dict[str, int]) -> dict[str, Any]:
        with self._lock:
            if result.p_fake is not None:
                self._audio.append((item.end_s, result.p_fake))
            while self._audio and item.end_s - self._audio[0][0] > AUDIO_TTL_S:
                self._audio.popleft()
            return self._message("audio", item.end_s, item.closed_at, dropped, speech=result.speech_fraction)

    def _message(
        self, kind: str, t_s: float, closed_at: float, dropped: dict[str, int], speech: float | None = None
    ) -> dict[str, Any]:
        means = {tid: round(track_score(tr.scores), 4) for tid, tr in self._tracks.items()}
        faces = [
            {"track_id": tid, "p_fake": means[tid], "frames": len(tr.scores), "box": list(tr.box)}
            for tid, tr in sorted(self._tracks.items())
        ]
        visual_p = max(means.values(), default=None)
        audio_p = sum(p for _, p in self._audio) / len(self._audio) if self._audio else None
        fused = fuse_modalities(visual_p, audio_p)
        events: list[dict[str, object]] = []
        if fused is not None:
            smoothed = self._smoother.update(fused, t_s)
            if smoothed.change is not None:
                events.append(smoothed.change.to_dict())
        self.seq += 1
        latency_ms = (time.perf_counter() - closed_at) * 1000.0
        p_smooth = self._smoother.p_fake
        return {
            "type": "score",
            "seq": self.seq,
            "stream_id": self.stream_id,
            "kind": kind,
            "stream_t_s": round(t_s, 3),
            "server_time": datetime.now(UTC).isoformat(),
            "latency_ms": round(latency_ms, 2),
            "visual": {"status": "ok" if faces else "no_face", "p_fake": visual_p},
            "audio": {
                "status": "ok" if audio_p is not None else "no_speech",
                "p_fake": None if audio_p is None else round(audio_p, 4),
                **({"speech_fraction": round(speech, 3)} if speech is not None else {}),
            },
            "faces": faces,
            "p_fake_window": None if fused is None else round(fused, 4),
            "p_fake": None if p_smooth is None else round(p_smooth, 4),
            "verdict": self._smoother.state.value,
            "events": events,
            "dropped": dict(dropped),
        }
