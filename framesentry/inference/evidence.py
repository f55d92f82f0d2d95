"""What a file or a stream has shown so far, and the judgement drawn from it over a horizon.

Both doors feed ``Evidence`` in time order with the scoring core's output: faces per sampled frame (tracked
across frames here) and scored audio windows. ``judge()`` applies the one set of aggregation rules in
``inference.fusion`` to what lies inside the horizon: the whole file for an upload, a rolling window for a live
stream (the last N frames of each face seen recently, the last few seconds of speech). The horizon is the only
difference between the two paths.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from framesentry.config import Settings
from framesentry.inference.faces import FaceTracker
from framesentry.inference.fusion import (
    AudioObservation,
    FaceObservation,
    audio_video_score,
    fuse_modalities,
    track_scores,
    visual_video_score,
)
from framesentry.inference.scoring import ScoredFace, ScoredWindow

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Horizon:
    """How much of the past a judgement weighs. ``None`` everywhere: everything (a whole file)."""

    frames_per_track: int | None = None
    """Only the newest N scored frames of each face count."""
    track_ttl_s: float | None = None
    """A face not seen for this long (media time) no longer counts."""
    audio_s: float | None = None
    """Only speech windows that ended within this many seconds of the newest one count."""

    @classmethod
    def whole_file(cls) -> Horizon:
        return cls()

    @classmethod
    def rolling(cls, settings: Settings) -> Horizon:
        return cls(frames_per_track=settings.live_visual_window_frames, track_ttl_s=settings.live_track_ttl_s,
                   audio_s=settings.live_audio_horizon_s)


@dataclass(frozen=True)
class TrackJudgement:
    track_id: int
    p_fake: float
    """Mean calibrated p_fake of the track's frames inside the horizon."""
    max_p_fake: float
    frames: int
    first_seen_s: float
    last_seen_s: float
    box: Box
    """Where the face was last seen."""
    largest_box: Box
    """The face at its largest inside the horizon (the best thumbnail)."""


@dataclass(frozen=True)
class Judgement:
    visual_p: float | None
    """Video-level visual score (``None``: no face inside the horizon)."""
    audio_p: float | None
    """Audio score (``None``: no speech window inside the horizon)."""
    p_fake: float | None
    """The modalities fused (``None`` when neither has anything to say)."""
    tracks: list[TrackJudgement]


def _area(box: Box) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


@dataclass
class Evidence:
    """Observations of one file or stream, in time order. Not thread-safe: the caller serialises updates."""

    horizon: Horizon = field(default_factory=Horizon)
    faces: deque[FaceObservation] = field(default_factory=deque)
    windows: deque[AudioObservation] = field(default_factory=deque)
    tracker: FaceTracker = field(default_factory=FaceTracker)
    windows_skipped: int = 0
    """Audio windows seen without enough speech to judge."""
    frames_seen: int = 0
    newest_frame_s: float = 0.0
    newest_window_s: float = 0.0

    def add_frame(self, t_s: float, faces: Sequence[ScoredFace]) -> list[FaceObservation]:
        """One sampled frame's faces: tracked (one id per person across frames) and recorded."""
        ids = self.tracker.update(t_s, [f.box for f in faces])
        added = [
            FaceObservation(t_s=t_s, track_id=tid, p_fake=f.p_fake,
                            box=(int(f.box.x1), int(f.box.y1), int(f.box.x2), int(f.box.y2)))
            for f, tid in zip(faces, ids, strict=True)
        ]
        self.faces.extend(added)
        self.frames_seen += 1
        self.newest_frame_s = max(self.newest_frame_s, t_s)
        if self.horizon.frames_per_track is not None or self.horizon.track_ttl_s is not None:
            # Drop what can never count again (faces gone for good, frames past the newest N of their track),
            # so a stream that runs for days holds bounded memory.
            self.faces = deque(self._faces_in_horizon())
        return added

    def add_window(self, window: ScoredWindow) -> AudioObservation | None:
        """One scored audio window; counted only when it had enough speech to judge."""
        self.newest_window_s = max(self.newest_window_s, window.end_s)
        obs = None
        if window.p_fake is None:
            self.windows_skipped += 1
        else:
            obs = AudioObservation(start_s=window.start_s, end_s=window.end_s, p_fake=window.p_fake)
            self.windows.append(obs)
        if self.horizon.audio_s is not None:
            while self.windows and self.newest_window_s - self.windows[0].end_s > self.horizon.audio_s:
                self.windows.popleft()
        return obs

    def judge(self) -> Judgement:
        # ``add_frame`` keeps ``faces`` trimmed to the horizon (only it moves the face clock), so no second pass.
        faces = list(self.faces)
        tracks: list[TrackJudgement] = []
        for tid, (mean, peak, count) in sorted(track_scores(faces).items()):
            obs = [f for f in faces if f.track_id == tid]
            tracks.append(TrackJudgement(
                track_id=tid, p_fake=mean, max_p_fake=peak, frames=count,
                first_seen_s=obs[0].t_s, last_seen_s=obs[-1].t_s, box=obs[-1].box,
                largest_box=max(obs, key=lambda f: _area(f.box)).box,
            ))
        visual = visual_video_score(faces)
        audio = audio_video_score(list(self.windows))
        return Judgement(visual_p=visual, audio_p=audio, p_fake=fuse_modalities(visual, audio), tracks=tracks)

    # --- the horizon ----------------------------------------------------------------------------------------

    def _faces_in_horizon(self) -> list[FaceObservation]:
        h = self.horizon
        faces = list(self.faces)
        if h.track_ttl_s is not None:
            last_seen: dict[int, float] = {}
            for f in faces:
                last_seen[f.track_id] = f.t_s
            faces = [f for f in faces if self.newest_frame_s - last_seen[f.track_id] <= h.track_ttl_s]
        if h.frames_per_track is not None:
            kept: dict[int, int] = {}
            newest_first = []
            for f in reversed(faces):
                if kept.get(f.track_id, 0) < h.frames_per_track:
                    kept[f.track_id] = kept.get(f.track_id, 0) + 1
                    newest_first.append(f)
            faces = newest_first[::-1]
        return faces
