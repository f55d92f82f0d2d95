"""Explanations through the service (embedded mode: in-process Celery worker, SQLite): the deep pass runs as
its own task after the verdict, shows its progress on the analysis, serves the explanation JSON, its images and
the PDF, and everything goes with the analysis. Live: the frame that turned a stream Fake is explained off the
live path, linked from the verdict-change event, served and deleted with the stream."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from service_helpers import finished, poll_until, running_api, upload, wait_for

from framesentry.api.app import create_app
from framesentry.config import Settings

pytest_plugins = ["conftest_service"]


def _settings(work: Path) -> Settings:
    return Settings(work_dir=work, explain_enabled=True, queue_name=f"test-{uuid.uuid4().hex[:8]}",
                    explain_top_frames=2, explain_audio_windows=2)


def test_deep_pass_after_the_verdict_served_and_deleted(tmp_path: Path, clip_faces_speech: Path) -> None:
    settings = _settings(tmp_path)
    app = create_app(settings)
    with running_api(app) as base, httpx.Client(base_url=base, timeout=60) as client:
        aid = upload(client, clip_faces_speech).json()["id"]
        body = poll_until(client, aid, finished, 300)
        assert body["status"] == "done" and body["verdict"] in ("real", "fake", "uncertain")
        # The verdict is out while the deep pass is still to come: it never waits for explanations.
        assert body["deep_pass"]["status"] in ("queued", "running"), body["deep_pass"]
        early = client.get(f"/v1/analyses/{aid}/report.pdf")
        assert early.status_code == 409 and early.json()["error"]["code"] == "not_ready"
        seen: list[dict[str, Any]] = []
        body = poll_until(client, aid, lambda b: b["deep_pass"]["status"] in ("done", "failed"), 300, seen)
        assert body["deep_pass"]["status"] == "done", body["deep_pass"]
        assert body["deep_pass"]["progress_pct"] == 100.0
        stages = {b["deep_pass"]["stage"] for b in seen if b["deep_pass"]["status"] == "running"}
        assert stages & {"heatmaps", "audio_saliency", "summary", "report", "timeline"}, stages

        explained = client.get(f"/v1/analyses/{aid}/explanation").json()
        doc = explained["explanation"]
        assert doc["verdict"] == body["verdict"] and doc["media_sha256"] == body["video"]["sha256"]
        assert doc["heatmaps"] and doc["methods"]["visual"]["method"] == "GradCAM"
        assert any(d["step"] == "escalate" for d in body["result"]["routing"])
        names = {a["name"] for a in explained["artifacts"]}
        assert {"timeline.png", "report.pdf", "audio_saliency.png", "audio_saliency.json",
                doc["heatmaps"][0]["crop_image"], doc["heatmaps"][0]["frame_image"]} <= names
        for art in explained["artifacts"]:
            got = client.get(art["url"])
            assert got.status_code == 200 and got.headers["content-type"].startswith(art["media_type"]), art
        pdf = client.get(f"/v1/analyses/{aid}/report.pdf")
        assert pdf.status_code == 200 and pdf.content[:5] == b"%PDF-"
        assert pdf.headers["content-type"] == "application/pdf"
        stored = settings.media_dir / "explanations" / aid
        assert {p.name for p in stored.iterdir()} == names
        # The CLI finds the same report in the service's database and storage.
        env = {**os.environ, "FRAMESENTRY_WORK_DIR": str(tmp_path)}
        out = tmp_path / "cli.pdf"
        cli = subprocess.run([sys.executable, "-m", "framesentry", "report", aid, "-o", str(out)], env=env,
                             capture_output=True, text=True, timeout=120)
        assert cli.returncode == 0, cli.stderr
        assert out.read_bytes() == pdf.content
        bad = subprocess.run([sys.executable, "-m", "framesentry", "report", "no-such-thing"], env=env,
                             capture_output=True, text=True, timeout=120)
        assert bad.returncode == 2 and "neither a file nor an analysis id" in bad.stderr

        assert client.delete(f"/v1/analyses/{aid}").status_code == 204
        assert not any(stored.iterdir())
        assert client.get(f"/v1/analyses/{aid}/explanation").status_code == 404
        assert client.get(f"/v1/analyses/{aid}/artifacts/timeline.png").status_code == 404


def test_live_fake_frame_is_explained_linked_and_deleted(tmp_path: Path, real_faces: list[np.ndarray]) -> None:
    from framesentry.api.live_explain import LiveExplainer
    from framesentry.inference.detectors import Detectors
    from framesentry.inference.faces import FaceDetector
    from framesentry.inference.scoring import ScoredFace
    from framesentry.lab.samples import compose_frame
    from framesentry.store import streams, users
    from framesentry.store.db import Database
    from framesentry.store.storage import LocalStorage
    from framesentry.stream.hooks import fake_frame
    from framesentry.stream.messages import ScoreMessage

    settings = _settings(tmp_path)
    app = create_app(settings, run_worker=False)
    with running_api(app) as base, httpx.Client(base_url=base, timeout=60) as client:
        db = Database(settings.database_url)
        with db.transaction() as s:
            owner = users.ensure_user(s, users.ANONYMOUS)
            key = streams.create_stream_key(s, owner.id, "studio").row
            stream_id = streams.start_stream(s, key, "rtmp").id
        frame = compose_frame((640, 360), [(real_faces[0], (240, 70, 170))])
        faces = [ScoredFace(box, 0.93, sharpness=100.0) for box in FaceDetector(settings).detect(frame)]

        def score_message(seq: int, events: list[dict[str, Any]]) -> ScoreMessage:
            return ScoreMessage.model_validate({
                "seq": seq, "stream_id": str(stream_id), "kind": "visual", "stream_t_s": 9.5,
                "server_time": "2026-12-07T00:00:00Z", "latency_ms": 1.0,
                "visual": {"status": "ok", "p_fake": 0.9}, "audio": {"status": "no_speech", "p_fake": None},
                "faces": [], "p_fake_window": 0.9, "p_fake": 0.8, "verdict": "fake", "events": events,
                "dropped": {"visual": 0, "audio": 0}})

        message = score_message(42, [{"from": "uncertain", "to": "fake", "stream_t_s": 9.5, "p_fake": 0.8}])
        assert fake_frame(stream_id, score_message(1, []), (9.5, frame, faces)) is None
        work = fake_frame(stream_id, message, (9.5, frame, faces))
        assert work is not None and work.boxes and work.artifact == "verdict_000042_frame.png"
        link = message.to_json()["events"][0]["explanation"]
        assert link == f"/v1/streams/{stream_id}/artifacts/verdict_000042_frame.png"
        assert client.get(link).status_code == 404  # linked at once, made off the live path

        explainer = LiveExplainer(Detectors(settings), db, LocalStorage(settings.media_dir))
        explainer.start()
        explainer.submit(work)
        got = wait_for(lambda: (r := client.get(link)).status_code == 200 and r, 120, "live heat map")
        assert got.headers["content-type"] == "image/png" and got.content[:4] == b"\x89PNG"
        assert client.get(f"/v1/streams/{stream_id}/artifacts/verdict_000042_face0_crop.png").status_code == 200
        explainer.stop()
        assert explainer.done == 1 and explainer.dropped == 0

        with db.transaction() as s:
            streams.end_stream(s, stream_id, reason="test")
        folder = settings.media_dir / "streams" / str(stream_id) / "explanations"
        assert len(list(folder.iterdir())) == 2
        assert client.delete(f"/v1/streams/{stream_id}").status_code == 204
        assert not any(folder.iterdir())
        db.engine.dispose()
