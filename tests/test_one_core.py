"""Two doors, one core: the same clip published live over RTMP and uploaded as a file scores the same.

The clip has a manipulated face (DFDC fake test crop #0) beside a real one (real crop #1) and loud stereo
speech (both channels the same: FFmpeg's own mono down-mix would add +3 dB and clip it, which the upload path
never did and the live path once did). ffmpeg publishes it with ``-c copy`` so the server decodes the very
same pictures and sound. The live server's rolling horizon is set to cover the whole clip, so the live
judgement and the upload's whole-file judgement weigh the same evidence; what may still differ is which
frames are sampled (the live clock starts at the publisher's arrival) and the AAC priming samples FLV keeps.

Stated tolerance: per-face p_fake within 0.05, audio p_fake within 0.10, the same verdict.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from live_helpers import ScoreReader, create_stream, live_stream_of, ws_url
from service_helpers import finished, poll_until, running_api, upload

from framesentry.config import Settings

CLIP_S = 8.04
FACE_TOLERANCE = 0.05
AUDIO_TOLERANCE = 0.10


@pytest.fixture(scope="module")
def stereo_clip(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> Path:
    from framesentry.lab.samples import load_rgb, shared_face_paths, speech_from_librispeech, write_clip

    folder = tmp_path_factory.mktemp("one-core")
    fake = load_rgb(shared_face_paths(settings, "fake", "test", n=1, offset=0)[0])  # type: ignore[arg-type]
    real = load_rgb(shared_face_paths(settings, "real", "test", n=1, offset=1)[0])  # type: ignore[arg-type]
    speech = speech_from_librispeech(settings, CLIP_S)
    speech = (0.95 * speech / max(1e-6, float(np.abs(speech).max()))).astype(np.float32)  # peaks at 0.95
    mono = write_clip(folder / "mono.mp4", duration_s=CLIP_S, size=(1280, 720), fps=30,
                      faces=[(fake, (120, 160, 260)), (real, (800, 160, 260))], motion=True, audio=speech)
    stereo = folder / "stereo.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(mono), "-c:v", "copy",
                    "-af", "pan=stereo|c0=c0|c1=c0", "-c:a", "aac", "-b:a", "192k", "-ar", "44100", str(stereo)],
                   check=True)
    return stereo


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from framesentry.api.app import create_app

    settings = Settings(
        work_dir=tmp_path_factory.mktemp("one-core-work"), live_enabled=True, rtmp_port=0,
        # The live horizon covers the whole clip, and live looks for the same faces as uploads do.
        live_visual_window_frames=64, live_track_ttl_s=60.0, live_audio_horizon_s=600.0,
        live_face_min_size_px=40, live_visual_fps=2.0, live_audio_stride_s=2.0,
        upload_process=True,  # as shipped: beside live streams the upload is scored in the analysis process
    )
    app = create_app(settings)
    with running_api(app) as base:
        yield base


def _by_side(faces: list[dict[str, Any]], width: int = 1280) -> dict[str, float]:
    """p_fake of the face on the left and on the right of the frame (track ids differ between the doors)."""
    return {("left" if (f["box"][0] + f["box"][2]) / 2 < width / 2 else "right"): float(f["p_fake"]) for f in faces}


@pytest.mark.slow
def test_live_and_upload_of_one_clip_agree(server: str, stereo_clip: Path) -> None:
    with httpx.Client(base_url=server, timeout=60) as client:
        created = create_stream(client, "one-core")
        publisher = subprocess.Popen(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-i", str(stereo_clip),
             "-c", "copy", "-f", "flv", created["ingest"]["rtmp"]],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            reader = ScoreReader(ws_url(server, live_stream_of(client, created["id"]))).start()
            assert publisher.wait(timeout=CLIP_S + 60) == 0, publisher.stderr.read() if publisher.stderr else ""
        finally:
            publisher.kill()
        reader.join(60)
        assert reader.error is None, reader.error
        live = [m for m in reader.scores if m["faces"] and m["audio"]["p_fake"] is not None][-1]

        analysis = upload(client, stereo_clip).json()
        body = poll_until(client, analysis["id"], finished, timeout_s=300)
        assert body["status"] == "done", body
        result = body["result"]

    up_faces, live_faces = _by_side(result["faces"]), _by_side(live["faces"])
    print(f"faces upload {up_faces} live {live_faces}; audio upload {result['audio']['p_fake']:.4f} "
          f"live {live['audio']['p_fake']:.4f}; verdict upload {result['verdict']} live {live['verdict']}")
    assert set(up_faces) == set(live_faces) == {"left", "right"}, (result["faces"], live["faces"])
    for side in ("left", "right"):
        assert abs(up_faces[side] - live_faces[side]) <= FACE_TOLERANCE, (side, up_faces, live_faces)
    assert up_faces["left"] > 0.7 > 0.3 > up_faces["right"]  # the manipulated person is the one blamed
    assert abs(result["audio"]["p_fake"] - live["audio"]["p_fake"]) <= AUDIO_TOLERANCE, (result["audio"], live["audio"])
    assert result["verdict"] == live["verdict"] == "fake", (result["verdict"], live["verdict"], live["p_fake"])
