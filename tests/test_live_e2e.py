"""Live detection end to end, with real clients against a real server (uvicorn + RTMP listener + WHIP):
the ffmpeg CLI over RTMP and an aiortc peer over WHIP publish generated clips (DFDC face crops composited on
a frame + LibriSpeech speech), and a WebSocket client reads the scores.

The clips' faces are fixed DFDC test crops: fake crop #0 (the visual model gives it p_fake ~1.0 when scored
directly) and real crop #1 (~0.01). The tests prove the live path keeps that signal through encoding,
transport, decoding, face detection, tracking, fusion and smoothing -- not the model's accuracy, which
`framesentry eval` measures on the whole test split.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from live_helpers import (
    ScoreReader,
    create_stream,
    ffmpeg_publish,
    live_stream_of,
    whip_publish,
    ws_url,
)
from service_helpers import running_api, wait_for

from framesentry.config import Settings

CLIP_S = 8.0


def _clip(path: Path, settings: Settings, label: str, index: int, speech: np.ndarray) -> Path:
    from framesentry.lab.samples import load_rgb, shared_face_paths, write_clip

    face = load_rgb(shared_face_paths(settings, label, "test", n=1, offset=index)[0])  # type: ignore[arg-type]
    return write_clip(path, duration_s=CLIP_S, size=(640, 360), fps=30, faces=[(face, (230, 60, 200))],
                      motion=True, audio=speech)


@pytest.fixture(scope="module")
def live_clips(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> dict[str, Path]:
    from framesentry.lab.samples import speech_from_librispeech

    folder = tmp_path_factory.mktemp("live")
    speech = speech_from_librispeech(settings, CLIP_S)
    return {
        "fake": _clip(folder / "fake.mp4", settings, "fake", 0, speech),
        "real": _clip(folder / "real.mp4", settings, "real", 1, speech),
    }


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    from framesentry.api.app import create_app

    settings = Settings(work_dir=tmp_path_factory.mktemp("live-work"), live_enabled=True, rtmp_port=0)
    app = create_app(settings)
    with running_api(app) as base:
        yield base, app.state.services


def _watch(base: str, client: httpx.Client, key_id: int) -> tuple[str, ScoreReader]:
    stream_id = live_stream_of(client, key_id)
    return stream_id, ScoreReader(ws_url(base, stream_id)).start()


def _check_scores(reader: ScoreReader, label: str) -> None:
    assert reader.error is None, reader.error
    scores = reader.scores
    import os
    if os.environ.get("LIVE_DEBUG"):
        for m in scores:
            print(m["kind"], m["stream_t_s"], m["visual"]["p_fake"], m["audio"]["p_fake"], m["p_fake"], m["verdict"],
                  m["latency_ms"], [f["track_id"] for f in m["faces"]])
    assert len(scores) >= 8, f"only {len(scores)} score messages"
    seqs = [m["seq"] for m in scores]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
    assert {m["kind"] for m in scores} == {"visual", "audio"}
    assert all(m["latency_ms"] >= 0 for m in scores)
    assert any(m["faces"] for m in scores), "no face was ever tracked"
    verdicts = [m["verdict"] for m in scores]
    if label == "fake":
        assert "fake" in verdicts, verdicts
        changes = [e for m in scores for e in m["events"] if e["type"] == "verdict_changed"]
        assert changes and changes[0]["to"] == "fake", changes
        after = verdicts[verdicts.index("fake"):]
        assert after.count("fake") >= 0.8 * len(after), verdicts  # it stays Fake (no flicker)
    else:
        assert "fake" not in verdicts and verdicts[-1] in ("real", "uncertain"), verdicts


@pytest.mark.slow
@pytest.mark.parametrize("label", ["fake", "real"])
def test_rtmp_publisher_scores_arrive_on_the_websocket(
    live_server: tuple[str, Any], live_clips: dict[str, Path], label: str
) -> None:
    """ffmpeg publishes over RTMP; scores stream in order; the fake clip turns Fake, the real one never does;
    the session ends when ffmpeg does and its series is queryable."""
    base, _services = live_server
    with httpx.Client(base_url=base, timeout=30) as client:
        created = create_stream(client, f"rtmp-{label}")
        publisher = ffmpeg_publish(live_clips[label], created["ingest"]["rtmp"])
        try:
            stream_id, reader = _watch(base, client, created["id"])
            cli = subprocess.Popen([sys.executable, "-m", "framesentry", "watch", stream_id, "--url", base],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            assert publisher.wait(timeout=CLIP_S + 30) == 0, publisher.stderr.read() if publisher.stderr else ""
        finally:
            publisher.kill()
        reader.join(30)
        _check_scores(reader, label)
        out, err = cli.communicate(timeout=30)
        assert cli.returncode == 0 and "stream ended (ended)" in err, err
        assert out.startswith("#") and "p_fake" in out and len(out.splitlines()) >= 8, out
        assert reader.messages[-1]["type"] == "end"
        info = wait_for(lambda: (r := client.get(f"/v1/streams/{stream_id}").json())["state"] != "live" and r,
                        15, "the stream to end")
        assert info["state"] == "ended" and info["source"] == "rtmp"
        assert info["end_reason"] == "ended" and info["windows_scored"] >= len(reader.scores) - 1
        series = wait_for(
            lambda: (b := client.get(f"/v1/streams/{stream_id}/series", params={"bucket": 1}).json())["buckets"]
            and b, 10, "the score series")
        assert sum(b["count"] for b in series["buckets"]) >= len(reader.scores) // 2


@pytest.mark.slow
def test_whip_publisher_scores_arrive_on_the_websocket(
    live_server: tuple[str, Any], live_clips: dict[str, Path]
) -> None:
    """An aiortc peer publishes the fake clip over WHIP: scores arrive in order and the verdict turns Fake."""
    base, _services = live_server
    with httpx.Client(base_url=base, timeout=30) as client:
        created = create_stream(client, "whip-fake")

        async def publish() -> dict[str, Any]:
            return await whip_publish(created["ingest"]["whip"], live_clips["fake"], CLIP_S)

        outcome: dict[str, Any] = {}
        import threading

        thread = threading.Thread(target=lambda: outcome.update(asyncio.run(publish())))
        thread.start()
        stream_id, reader = _watch(base, client, created["id"])
        thread.join(CLIP_S + 40)
        reader.join(30)
        assert outcome.get("delete_status") in (200, 204), outcome
        _check_scores(reader, "fake")
        info = client.get(f"/v1/streams/{stream_id}").json()
        assert info["source"] == "whip" and info["state"] == "ended"


def test_unknown_stream_key_is_refused_and_other_streams_continue(live_server: tuple[str, Any],
                                                                 live_clips: dict[str, Path]) -> None:
    """A publisher with a made-up key is refused by RTMP and by WHIP (clear 401 error shape)."""
    base, services = live_server
    publisher = ffmpeg_publish(live_clips["real"], f"rtmp://127.0.0.1:{services.live.rtmp.port}/live/fsk_nope")
    assert publisher.wait(timeout=30) != 0
    with httpx.Client(base_url=base, timeout=30) as client:
        res = client.post("/v1/whip/fsk_nope", content="v=0\r\n", headers={"Content-Type": "application/sdp"})
        assert res.status_code == 401 and res.json()["error"]["code"] == "unauthorized"
        res = client.get("/v1/streams/00000000-0000-0000-0000-000000000000")
        assert res.status_code == 404 and res.json()["error"]["code"] == "not_found"


@pytest.mark.slow
def test_browser_camera_publishes_over_whip_and_scores_arrive(
    live_server: tuple[str, Any], live_clips: dict[str, Path], tmp_path: Path
) -> None:
    """Headless Debian Chromium, fake camera + microphone playing the fake clip, opens the page the server
    serves and publishes over WHIP; scores arrive on the WebSocket in order and the verdict turns Fake."""
    from browser import Chromium, fake_capture_files, find_chromium

    if find_chromium() is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs the Debian package 'chromium')")
    base, _services = live_server
    y4m, wav = fake_capture_files(live_clips["fake"], tmp_path, seconds=CLIP_S, size=(640, 360), fps=15)
    with httpx.Client(base_url=base, timeout=30) as client:
        created = create_stream(client, "browser")
        with Chromium(created["ingest"]["publish_page"], video=y4m, audio=wav,
                      profile_dir=tmp_path / "profile") as browser:
            try:
                stream_id, reader = _watch(base, client, created["id"])
            except AssertionError as exc:
                raise AssertionError(f"{exc}; page state {browser.evaluate('window.whipState')}") from None
            wait_for(lambda: len(reader.scores) >= 12 and any(m["verdict"] == "fake" for m in reader.scores),
                     40, "scores from the browser to turn the verdict Fake")
            assert browser.evaluate("window.whipStop()", await_promise=True) == 200
        reader.join(20)
        _check_scores(reader, "fake")
        info = wait_for(lambda: (r := client.get(f"/v1/streams/{stream_id}").json())["state"] != "live" and r,
                        15, "the stream to end")
        assert info["source"] == "whip" and info["end_reason"] == "ended"


def test_stopping_a_live_stream_hangs_up_the_publisher(
    live_server: tuple[str, Any], live_clips: dict[str, Path]
) -> None:
    """DELETE /v1/streams/{id} on a live session ends it (reason stopped_by_api) and the RTMP publisher is
    disconnected; revoking the key afterwards refuses the next publish."""
    base, _services = live_server
    with httpx.Client(base_url=base, timeout=30) as client:
        created = create_stream(client, "to-stop")
        publisher = ffmpeg_publish(live_clips["real"], created["ingest"]["rtmp"])
        try:
            stream_id = live_stream_of(client, created["id"])
            reader = ScoreReader(ws_url(base, stream_id)).start()
            wait_for(lambda: reader.scores, 20, "a first score")
            assert client.delete(f"/v1/streams/{stream_id}").status_code == 204
            assert publisher.wait(timeout=15) != 0  # hung up long before the 8 s clip was through
        finally:
            publisher.kill()
        reader.join(10)
        assert reader.messages[-1] == {**reader.messages[-1], "type": "end", "reason": "stopped_by_api"}
        info = wait_for(lambda: (r := client.get(f"/v1/streams/{stream_id}").json())["state"] != "live" and r,
                        10, "the stream row to end")
        assert info["end_reason"] == "stopped_by_api"
        assert client.delete(f"/v1/stream-keys/{created['id']}").status_code == 204
        again = ffmpeg_publish(live_clips["real"], created["ingest"]["rtmp"])
        assert again.wait(timeout=30) != 0
        keys = client.get("/v1/stream-keys", params={"include_revoked": True}).json()["items"]
        assert any(k["id"] == created["id"] and k["revoked_at"] for k in keys)


def test_score_websocket_needs_the_api_key_and_a_known_stream(tmp_path: Path) -> None:
    """The WebSocket is authorised like REST: no key -> close 4401 with the error shape; a valid key (header,
    or the browser's auth subprotocol) on an unknown stream -> 4404. A key in the URL is not read."""
    import base64

    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    from framesentry.api.app import create_app

    def auth(key: str) -> list[str]:
        return ["framesentry.v1", "framesentry.auth." + base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")]

    app = create_app(Settings(work_dir=tmp_path, api_keys="alice:key-a"), run_worker=False)
    unknown = "/v1/streams/00000000-0000-0000-0000-000000000000/scores"
    cases: list[tuple[str, dict[str, str], list[str], int]] = [
        (unknown, {}, [], 4401), (unknown + "?api_key=key-a", {}, [], 4401), (unknown, {}, auth("wrong"), 4401),
        (unknown, {"X-API-Key": "key-a"}, [], 4404), (unknown, {}, auth("key-a"), 4404),
        (unknown, {}, ["framesentry.v1", "framesentry.auth.!!"], 4401),
    ]
    with TestClient(app) as client:
        for url, headers, protocols, code in cases:
            with client.websocket_connect(url, headers=headers, subprotocols=protocols) as ws:
                assert ws.accepted_subprotocol == ("framesentry.v1" if protocols else None)
                first = ws.receive_json()
                assert first["type"] == "error" and first["error"]["code"] in ("unauthorized", "not_found")
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_json()
                assert closed.value.code == code, (url, headers)
