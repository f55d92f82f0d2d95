"""The whole detection pipeline on clips the tests make: modalities present/missing, faces, schema."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from framesentry.config import Settings
from framesentry.inference.detectors import Detectors
from framesentry.inference.fusion import fuse_modalities
from framesentry.inference.pipeline import analyze_file
from framesentry.inference.result import AnalysisResult, Verdict


@pytest.fixture(scope="module")
def detectors(settings: Settings) -> Detectors:
    return Detectors(settings)


def test_faces_and_speech_are_both_scored(clip_faces_speech: Path, detectors: Detectors) -> None:
    """A talking face: one face track, speech windows scored, fused probability and a verdict, stages timed."""
    stages: list[tuple[str, float]] = []
    result = analyze_file(clip_faces_speech, detectors.settings, detectors, progress=lambda s, f: stages.append((s, f)))
    assert result.visual.status == "ok" and result.visual.p_fake is not None
    assert result.audio.status == "ok" and result.audio.windows_scored >= 1
    assert len(result.faces) == 1 and result.faces[0].frames >= 10  # 6 s at 2 fps
    # A real face with real speech is Real, and so is its one person.
    assert result.verdict is Verdict.REAL, (result.p_fake, result.visual.p_fake, result.audio.p_fake)
    assert result.faces[0].verdict is not Verdict.FAKE
    assert result.p_fake == pytest.approx(fuse_modalities(result.visual.p_fake, result.audio.p_fake), abs=1e-5)
    assert {"probe", "visual", "audio", "total"} <= set(result.timing_s)
    assert {"visual", "audio", "faces"} <= set(result.models)
    assert result.segments and result.segments[0].start_s == 0.0
    # The raw evidence is kept: every scored face and speech window, consistent with the summaries.
    assert len(result.frames) == result.visual.windows_scored
    assert len(result.audio_windows) == result.audio.windows_scored
    assert result.faces[0].max_p_fake == pytest.approx(max(f.p_fake for f in result.frames))
    # Progress is reported per stage and reaches the end of the file.
    assert {s for s, _ in stages} == {"visual", "audio"}
    assert max(f for s, f in stages if s == "visual") > 0.8
    # The JSON schema round-trips.
    again = AnalysisResult.model_validate_json(result.model_dump_json())
    assert again == result


def test_two_people_get_two_tracks(clip_multi_face: Path, detectors: Detectors) -> None:
    """Several faces per frame are tracked separately, so each person has a score."""
    result = analyze_file(clip_multi_face, detectors.settings, detectors)
    assert len(result.faces) == 2
    assert all(f.frames >= 6 for f in result.faces)
    left, right = sorted(result.faces, key=lambda f: f.box[0])
    assert left.box[2] < right.box[0]
    assert result.verdict is Verdict.REAL and Verdict.FAKE not in {f.verdict for f in result.faces}


def test_no_face_is_an_outcome_not_an_error(clip_no_face: Path, detectors: Detectors) -> None:
    """Background only: visual reports no_face, audio still decides."""
    result = analyze_file(clip_no_face, detectors.settings, detectors)
    assert result.visual.status == "no_face" and result.visual.p_fake is None
    assert result.visual.windows_skipped > 0
    assert result.audio.status == "ok"
    assert result.p_fake == pytest.approx(result.audio.p_fake, abs=1e-6)


def test_video_only_and_audio_only(clip_video_only: Path, clip_audio_only: Path, detectors: Detectors) -> None:
    """A missing modality is explicit in the result and does not count as evidence either way."""
    video = analyze_file(clip_video_only, detectors.settings, detectors)
    assert video.audio.status == "no_audio" and video.visual.status == "ok"
    assert video.p_fake == pytest.approx(video.visual.p_fake, abs=1e-6)
    assert video.verdict is Verdict.REAL
    audio = analyze_file(clip_audio_only, detectors.settings, detectors)
    assert audio.visual.status == "no_video" and audio.audio.status == "ok"
    assert not audio.media.has_video


def test_tone_is_not_speech(tmp_path: Path, detectors: Detectors) -> None:
    """Audio with no speech (a tone) is skipped by VAD: no_speech, and with no face the verdict is Uncertain."""
    from framesentry.lab.samples import tone, write_clip

    clip = write_clip(tmp_path / "tone.m4a", duration_s=6.0, audio=tone(6.0, 440.0), video=False)
    result = analyze_file(clip, detectors.settings, detectors)
    assert result.audio.status == "no_speech" and result.audio.windows_skipped >= 1
    assert result.verdict is Verdict.UNCERTAIN and result.p_fake == 0.5


def test_pipeline_keeps_the_visual_models_discrimination(tmp_path: Path, detectors: Detectors) -> None:
    """Faces decoded from H.264, re-detected and re-cropped still separate DFDC test fakes from reals."""
    from framesentry.lab.samples import load_rgb, shared_face_paths, write_clip

    settings = detectors.settings
    layout = [(40, 20, 300), (660, 20, 300), (40, 380, 300), (660, 380, 300)]
    means = {}
    for label in ("real", "fake"):
        faces = [load_rgb(p) for p in shared_face_paths(settings, label, "test", n=4, offset=10)]
        clip = write_clip(
            tmp_path / f"{label}.mp4", duration_s=2.0, size=(1280, 720), faces=list(zip(faces, layout, strict=True))
        )
        result = analyze_file(clip, settings, detectors)
        assert len(result.faces) == 4
        means[label] = float(np.mean([f.p_fake for f in result.faces]))
    assert means["fake"] > means["real"] + 0.1, means


def test_cli_json_and_clear_errors(clip_faces_speech: Path, not_media_file: Path, settings: Settings) -> None:
    """`framesentry analyze --json` prints the schema; bad input is one clear line and exit code 2."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "FRAMESENTRY_WORK_DIR": str(settings.work_dir)}
    ok = subprocess.run([sys.executable, "-m", "framesentry", "analyze", str(clip_faces_speech), "--json"],
                        capture_output=True, text=True, env=env, timeout=300)
    assert ok.returncode == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert data["schema_version"] == "1.2" and data["verdict"] in {"real", "fake", "uncertain"}
    bad = subprocess.run([sys.executable, "-m", "framesentry", "analyze", str(not_media_file)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and "not_media" in bad.stderr
