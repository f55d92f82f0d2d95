"""Shared test fixtures. Media is made once per session from the shared data (real faces, real speech).

Keep fixtures here general and cheap; a fixture used by one test file belongs in that file.
Layout of the generated clips is in ``CLIPS`` so tests can check where faces are.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from framesentry.config import Settings

# Apps built by tests start no RTMP listener / WHIP / live models unless a live test asks for them
# (Settings(live_enabled=True)): many apps run side by side here and would fight over port 1935.
os.environ.setdefault("FRAMESENTRY_LIVE_ENABLED", "false")
os.environ.setdefault("FRAMESENTRY_EXPLAIN_ENABLED", "false")  # the deep pass runs only where a test asks for it
# Live servers analyse uploads in their own process unless a test asks for the analysis process (test_one_core,
# test_isolation): each one loads its own models, seconds of CPU per server for tests that upload nothing.
os.environ.setdefault("FRAMESENTRY_UPLOAD_PROCESS", "false")
# Request limits and wrong-key throttling only where a test asks for them (test_security_limits): other tests
# send bursts of requests on purpose.
os.environ.setdefault("FRAMESENTRY_RATE_LIMIT", "")
os.environ.setdefault("FRAMESENTRY_AUTH_FAILURES_PER_MINUTE", "0")

SPEECH_S = 6.0


@dataclass(frozen=True)
class ClipSpec:
    """How a fixture clip was made: ``faces`` are (x, y, width) at t=0; crops are square (height = width)."""

    size: tuple[int, int]
    fps: int
    duration_s: float
    faces: tuple[tuple[int, int, int], ...] = ()
    motion: bool = False
    audio: bool = True
    video: bool = True


# Faces drift by at most 3 % of the width and 2 % of the height when ``motion`` is on.
CLIPS: dict[str, ClipSpec] = {
    "clip_faces_speech": ClipSpec((640, 360), 30, 6.0, faces=((240, 70, 170),), motion=True),
    "clip_multi_face": ClipSpec((640, 360), 30, 4.0, faces=((60, 90, 150), (400, 120, 140))),
    "clip_no_face": ClipSpec((640, 360), 30, 4.0),
    "clip_video_only": ClipSpec((640, 360), 30, 3.0, faces=((250, 80, 160),), audio=False),
    "clip_audio_only": ClipSpec((0, 0), 30, 6.0, video=False),
}


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Default settings with caches in a temporary folder (never the user's ~/.cache)."""
    return Settings(work_dir=tmp_path_factory.mktemp("work"))


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder holding every generated media fixture of this session."""
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def real_faces(settings: Settings) -> list[np.ndarray]:
    """Two real face crops (RGB, 224x224) from the dfdc-faces test split."""
    from framesentry.lab.samples import load_rgb, shared_face_paths

    return [load_rgb(p) for p in shared_face_paths(settings, "real", split="test", n=2)]


@pytest.fixture(scope="session")
def speech(settings: Settings) -> np.ndarray:
    """Six seconds of real LibriSpeech speech, 16 kHz mono float32."""
    from framesentry.lab.samples import speech_from_librispeech

    return speech_from_librispeech(settings, SPEECH_S)


def _make(media_dir: Path, name: str, ext: str, faces_rgb: list[np.ndarray], speech: np.ndarray) -> Path:
    from framesentry.lab.samples import write_clip

    spec = CLIPS[name]
    faces = [(faces_rgb[i], box) for i, box in enumerate(spec.faces)]
    return write_clip(
        media_dir / f"{name}{ext}",
        duration_s=spec.duration_s,
        size=spec.size,
        fps=spec.fps,
        faces=faces,
        motion=spec.motion,
        audio=speech if spec.audio else None,
        video=spec.video,
        seed=len(name),
    )


@pytest.fixture(scope="session")
def clip_faces_speech(media_dir: Path, real_faces: list[np.ndarray], speech: np.ndarray) -> Path:
    """6 s 640x360 H.264/AAC MP4: one real face (slowly drifting) and real speech."""
    return _make(media_dir, "clip_faces_speech", ".mp4", real_faces, speech)


@pytest.fixture(scope="session")
def clip_multi_face(media_dir: Path, real_faces: list[np.ndarray], speech: np.ndarray) -> Path:
    """4 s 640x360 MP4 with two different real faces (static) and speech."""
    return _make(media_dir, "clip_multi_face", ".mp4", real_faces, speech)


@pytest.fixture(scope="session")
def clip_no_face(media_dir: Path, real_faces: list[np.ndarray], speech: np.ndarray) -> Path:
    """4 s 640x360 MP4: textured background only, with speech."""
    return _make(media_dir, "clip_no_face", ".mp4", real_faces, speech)


@pytest.fixture(scope="session")
def clip_video_only(media_dir: Path, real_faces: list[np.ndarray], speech: np.ndarray) -> Path:
    """3 s 640x360 MP4 with one face and no audio track."""
    return _make(media_dir, "clip_video_only", ".mp4", real_faces, speech)


@pytest.fixture(scope="session")
def clip_audio_only(media_dir: Path, real_faces: list[np.ndarray], speech: np.ndarray) -> Path:
    """6 s AAC speech in an .m4a (no video track)."""
    return _make(media_dir, "clip_audio_only", ".m4a", real_faces, speech)


# --- bad inputs ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def empty_file(media_dir: Path) -> Path:
    """A 0-byte upload named like a video."""
    path = media_dir / "empty.mp4"
    path.write_bytes(b"")
    return path


@pytest.fixture(scope="session")
def not_media_file(media_dir: Path) -> Path:
    """A small PDF document: a real-world wrong upload."""
    path = media_dir / "press_release.pdf"
    path.write_bytes(
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
        b"xref\n0 3\ntrailer << /Size 3 /Root 1 0 R >>\nstartxref\n0\n%%EOF\n"
    )
    return path


@pytest.fixture(scope="session")
def truncated_clip(media_dir: Path, real_faces: list[np.ndarray], speech: np.ndarray) -> Path:
    """A web-style MP4 (index first, 6 s, faces + speech) cut to half its bytes: an interrupted upload."""
    from framesentry.lab.samples import write_clip

    full = write_clip(
        media_dir / "full_faststart.mp4",
        duration_s=6.0,
        size=(640, 360),
        faces=[(real_faces[0], (240, 70, 170))],
        audio=speech,
        faststart=True,
    )
    data = full.read_bytes()
    path = media_dir / "truncated.mp4"
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture(scope="session")
def garbage_with_media_extension(media_dir: Path) -> Path:
    """Random bytes named ``.mp4`` (seeded, and starting with no media signature)."""
    rng = np.random.default_rng(1234)
    path = media_dir / "holiday_video.mp4"
    path.write_bytes(b"\x00\x13garbage" + rng.integers(0, 256, size=64 * 1024, dtype=np.uint8).tobytes())
    return path
