"""WHIP ingest end to end: real peers (aiortc, headless Chromium) publish over HTTP to a real uvicorn server on
127.0.0.1, media flows peer to peer over UDP, and a recording sink shows what the live path would receive.

The recording sink/opener, the test app and the aiortc publishing helpers are in ``whip_helpers.py``.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import Chromium, fake_capture_files, find_chromium
from whip_helpers import (
    KEY,
    RecordingOpener,
    Server,
    _app,
    _offer,
    _post_offer,
    _publish,
    increasing,
    stream_times,
    wait_until,
)

from framesentry.config import Settings

STALL_S = 3.0



@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[Server]:
    """uvicorn on 127.0.0.1 with a free port, in a thread; shut down (closing every session) after the module."""
    import uvicorn

    opener = RecordingOpener({KEY, "studio-b"})
    app = _app(settings.model_copy(update={"whip_stall_timeout_s": STALL_S}), opener)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = uv.servers[0].sockets[0].getsockname()[1]
    yield Server(f"http://127.0.0.1:{port}", opener, app.state.whip)
    uv.should_exit = True
    thread.join(timeout=20)
    assert not thread.is_alive(), "uvicorn did not stop"




def test_aiortc_publisher_streams_video_and_audio_then_delete_ends_it(server: Server, clip_faces_speech: Path) -> None:
    """Frames published from a file reach the sink with increasing stream times; DELETE closes the sink as
    "ended" and frees the session (a second DELETE is 404)."""
    before = len(server.opener.sinks)

    def enough() -> bool:
        sinks = server.opener.sinks[before:]
        return bool(sinks) and len(sinks[-1].video) >= 30 and len(sinks[-1].audio) >= 50

    out = asyncio.run(_publish(server.url, clip_faces_speech, enough))
    post = out["post"]
    assert post.headers["content-type"].startswith("application/sdp")
    assert post.headers["etag"].startswith('"')
    location = post.headers["location"]
    assert location.startswith(f"/v1/whip/{KEY}/")
    assert "a=candidate:" in post.text  # non-trickle: the answer carries the server's candidates
    assert out["connection"] == "connected"
    assert out["delete"].status_code == 200
    assert out["delete_again"].status_code == 404
    assert out["delete_again"].json()["error"]["code"] == "not_found"

    sink = server.opener.sinks[-1]
    assert sink.closed.wait(5)
    assert sink.reasons == ["ended"]
    assert len(sink.video) >= 30, len(sink.video)
    assert len(sink.audio) >= 50, len(sink.audio)
    v_times, a_times = stream_times(sink.video), stream_times(sink.audio)
    assert increasing(v_times), "video times must increase"
    assert increasing(a_times), "audio times must increase"
    # Stream time starts near zero (not at the random RTP origin) and advances at about the sender's rate.
    assert 0 <= v_times[0] < 5 and 0 <= a_times[0] < 5
    assert (v_times[-1] - v_times[0]) == pytest.approx((len(v_times) - 1) / 30, rel=0.35)
    assert {(w, h) for _, w, h in sink.video} == {(640, 360)}
    assert {rate for _, rate, _ in sink.audio} == {48000}
    wait_until(lambda: server.hub.stats()["active"] == 0, 5, "the session to be freed")
    assert server.hub.stats()["closed"].get("ended", 0) >= 1


def test_bearer_token_publishing_keeps_the_key_out_of_every_url(server: Server, clip_faces_speech: Path) -> None:
    """RFC 9725's form: POST /v1/whip with the stream key as a bearer token. The session URL holds no key and
    DELETE on it needs the same token; a missing or unknown token is 401 and opens nothing."""
    import httpx

    async def publish() -> dict[str, Any]:
        from aiortc import RTCSessionDescription

        pc, player = await _offer(clip_faces_speech)
        out: dict[str, Any] = {}
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                sdp = {"Content-Type": "application/sdp"}
                out["none"] = await client.post("/v1/whip", content=pc.localDescription.sdp, headers=sdp)
                out["unknown"] = await client.post("/v1/whip", content=pc.localDescription.sdp,
                                                   headers={**sdp, "Authorization": "Bearer nope"})
                out["post"] = post = await client.post("/v1/whip", content=pc.localDescription.sdp,
                                                       headers={**sdp, "Authorization": f"Bearer {KEY}"})
                assert post.status_code == 201, post.text
                await pc.setRemoteDescription(RTCSessionDescription(sdp=post.text, type="answer"))
                deadline = time.monotonic() + 20
                while not (server.opener.sinks and server.opener.sinks[-1].video) and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                location = post.headers["location"]
                out["delete_anonymous"] = await client.delete(location)
                out["delete_other_key"] = await client.delete(location, headers={"Authorization": "Bearer studio-b"})
                out["delete"] = await client.delete(location, headers={"Authorization": f"Bearer {KEY}"})
        finally:
            await pc.close()
            player.video.stop()
            player.audio.stop()
        return out

    sinks_before = len(server.opener.sinks)
    out = asyncio.run(publish())
    assert out["none"].status_code == 401 and out["none"].json()["error"]["code"] == "unauthorized"
    assert out["unknown"].status_code == 401
    post = out["post"]
    assert post.headers["location"].startswith("/v1/whip/sessions/") and KEY not in post.headers["location"]
    assert "link" not in post.headers  # the recording sink is no live stream: no scores to point at
    assert (out["delete_anonymous"].status_code, out["delete_other_key"].status_code) == (401, 404)
    assert out["delete"].status_code == 200
    assert len(server.opener.sinks) == sinks_before + 1
    sink = server.opener.sinks[-1]
    assert sink.closed.wait(5) and sink.reasons == ["ended"] and sink.video


def test_unknown_key_is_refused_with_the_error_shape(server: Server, clip_faces_speech: Path) -> None:
    """An unknown stream key gets 401 in the one error shape, and no session or sink is created."""

    async def post() -> Any:
        pc, player = await _offer(clip_faces_speech)
        try:
            return await _post_offer(f"{server.url}/v1/whip/no-such-key", pc.localDescription.sdp)
        finally:
            await pc.close()
            player.video.stop()
            player.audio.stop()

    sinks_before = len(server.opener.sinks)
    resp = asyncio.run(post())
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "unauthorized"
    assert len(server.opener.sinks) == sinks_before
    assert server.hub.stats()["active"] == 0


def test_wrong_content_type_is_415_and_offer_without_media_is_422(server: Server) -> None:
    """A JSON body is refused before the key is even used; an SDP with only a data channel cannot be
    ingested (422 invalid_sdp) and the sink opened for its key is closed with the error."""
    import httpx

    resp = httpx.post(f"{server.url}/v1/whip/{KEY}", json={"sdp": "v=0"}, timeout=10)
    assert resp.status_code == 415
    assert resp.json()["error"]["code"] == "unsupported_media_type"

    async def datachannel_offer() -> str:
        from aiortc import RTCConfiguration, RTCPeerConnection

        pc = RTCPeerConnection(configuration=RTCConfiguration(iceServers=[]))
        pc.createDataChannel("chat")
        await pc.setLocalDescription(await pc.createOffer())
        sdp: str = pc.localDescription.sdp
        await pc.close()
        return sdp

    sdp = asyncio.run(datachannel_offer())
    assert "m=application" in sdp
    resp = httpx.post(f"{server.url}/v1/whip/{KEY}", content=sdp, headers={"Content-Type": "application/sdp"})
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "invalid_sdp"
    assert server.opener.sinks[-1].reasons[0].startswith("error:")
    resp = httpx.post(f"{server.url}/v1/whip/{KEY}", content="hello", headers={"Content-Type": "application/sdp"})
    assert resp.status_code == 422
    resp = httpx.post(
        f"{server.url}/v1/whip/{KEY}", content="v=0\r\n" + "a=x\r\n" * 20000,
        headers={"Content-Type": "application/sdp"},
    )
    assert resp.status_code == 413
    assert server.hub.stats()["active"] == 0
    assert httpx.options(f"{server.url}/v1/whip/{KEY}").headers["accept-post"] == "application/sdp"


async def _cancel_and_settle(task: asyncio.Future[Any], settled: Callable[[], bool], pc: Any, player: Any) -> None:
    """Cancel a publish as a client hanging up would, wait (up to 5 s) for ``settled``, free the test peer."""
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):
        if settled():
            break
        await asyncio.sleep(0.05)
    await pc.close()
    player.video.stop()
    player.audio.stop()


def test_offer_abandoned_mid_answer_frees_its_peer(settings: Settings, clip_faces_speech: Path) -> None:
    """A publish cancelled while the answer is being made (the HTTP client hung up) closes the sink it opened
    and leaves no session behind."""
    from framesentry.stream.whip import WhipHub

    opener = RecordingOpener({KEY})
    hub = WhipHub(settings, opener)

    async def run() -> None:
        pc, player = await _offer(clip_faces_speech)
        task = asyncio.ensure_future(hub.publish(KEY, pc.localDescription.sdp))
        # Step the loop until the key is checked (off the loop), the sink opened and the session registered:
        # from then on the offer is being applied and the answer gathered.
        for _ in range(100_000):
            if hub.stats()["active"] == 1 or task.done():
                break
            await asyncio.sleep(0)
        assert len(opener.sinks) == 1 and not task.done()
        await _cancel_and_settle(task, lambda: opener.sinks[0].closed.is_set() and hub.stats()["active"] == 0,
                                 pc, player)

    asyncio.run(run())
    assert opener.sinks[0].reasons == ["error: offer abandoned"]
    assert hub.stats()["active"] == 0


def test_client_gone_during_the_key_check_leaves_no_open_sink(settings: Settings, clip_faces_speech: Path) -> None:
    """The key check runs off the event loop; a publish cancelled while it runs still closes the sink the
    opener hands back afterwards (no session left live in the database)."""
    from framesentry.stream.whip import WhipHub

    class SlowOpener(RecordingOpener):
        def __call__(self, key: str, source: str) -> Any:
            time.sleep(0.3)  # a slow database
            return super().__call__(key, source)

    opener = SlowOpener({KEY})
    hub = WhipHub(settings, opener)

    async def run() -> None:
        pc, player = await _offer(clip_faces_speech)
        task = asyncio.ensure_future(hub.publish(KEY, pc.localDescription.sdp))
        await asyncio.sleep(0.05)
        assert not opener.sinks
        await _cancel_and_settle(task, lambda: bool(opener.sinks) and opener.sinks[0].closed.is_set(), pc, player)

    asyncio.run(run())
    assert opener.sinks[0].reasons == ["error: offer abandoned"]
    assert hub.stats()["active"] == 0


def test_publisher_that_vanishes_is_closed_within_the_stall_timeout(server: Server, clip_faces_speech: Path) -> None:
    """A publisher killed with SIGKILL (no DELETE, no DTLS close) is noticed: its sink closes within
    whip_stall_timeout_s + 3 s of the last frame, and the session is freed."""
    before = len(server.opener.sinks)
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve().with_name("whip_helpers.py")), server.url,
         str(clip_faces_speech)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        wait_until(
            lambda: len(server.opener.sinks) > before and len(server.opener.sinks[-1].video) >= 10,
            30, "frames from the publisher subprocess",
        )
        sink = server.opener.sinks[-1]
        assert not sink.closed.is_set()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=5)
        killed = time.monotonic()
        assert sink.closed.wait(STALL_S + 3), "the sink was not closed"
        assert time.monotonic() - killed <= STALL_S + 3
        assert sink.reasons in (["stalled"], ["disconnected"])
        wait_until(lambda: server.hub.stats()["active"] == 0, 5, "the session to be freed")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=5)


def test_browser_publishes_camera_and_microphone(
    server: Server, clip_faces_speech: Path, tmp_path: Path
) -> None:
    """Headless Chromium opens the publishing page served by the router with a fake camera and microphone
    playing the generated clip; the sink receives its video and audio; the page's Stop DELETEs the session."""
    if find_chromium() is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs the Debian package 'chromium')")
    y4m, wav = fake_capture_files(clip_faces_speech, tmp_path, seconds=3.0, size=(640, 360), fps=15)
    before = len(server.opener.sinks)
    url = f"{server.url}/v1/whip/publish.html?key=studio-b"
    with Chromium(url, video=y4m, audio=wav, profile_dir=tmp_path / "profile") as browser:
        try:
            wait_until(
                lambda: len(server.opener.sinks) > before
                and len(server.opener.sinks[-1].video) >= 20
                and len(server.opener.sinks[-1].audio) >= 50,
                30, "frames from the browser",
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; page state {browser.evaluate('window.whipState')}") from None
        state = browser.evaluate("window.whipState")
        assert state["state"] == "publishing", state
        assert sorted(state["tracks"]) == ["audio", "video"]
        assert state["resource"].startswith(f"{server.url}/v1/whip/studio-b/")
        sink = server.opener.sinks[-1]
        assert sink.key == "studio-b"
        assert {(w, h) for _, w, h in sink.video} == {(640, 360)}
        assert increasing(stream_times(sink.video)), "video times must increase"
        assert increasing(stream_times(sink.audio)), "audio times must increase"
        assert browser.evaluate("window.whipStop()", await_promise=True) == 200
        assert sink.closed.wait(5)
        assert sink.reasons == ["ended"]
    wait_until(lambda: server.hub.stats()["active"] == 0, 5, "the session to be freed")


def test_openapi_documents_the_sdp_body_and_answer(settings: Settings) -> None:
    """The spec says the offer is application/sdp and the 201 answers application/sdp with Location/ETag."""
    spec = _app(settings, RecordingOpener(set())).openapi()
    post = spec["paths"]["/v1/whip/{key}"]["post"]
    assert "application/sdp" in post["requestBody"]["content"]
    created = post["responses"]["201"]
    assert "application/sdp" in created["content"]
    assert {"Location", "ETag"} <= set(created["headers"])
    assert {"401", "415", "422"} <= set(post["responses"])
    assert "delete" in spec["paths"]["/v1/whip/{key}/{resource_id}"]
    assert "get" in spec["paths"]["/v1/whip/publish.html"]


def test_track_clock_rebases_random_rtp_origin_and_unwraps_the_counter() -> None:
    """RTP timestamps start anywhere and wrap at 2**32; stream time starts at the track's arrival delay and
    keeps increasing across the wrap, and a reordered frame lands just before its neighbour."""
    from fractions import Fraction

    import av
    import numpy as np

    from framesentry.stream.whip_clock import TrackClock

    clock = TrackClock(time.monotonic())
    times = []
    for raw in [2**32 - 6000, 2**32 - 3000, 0, 3000, 1500, 6000]:  # 90 kHz video, wrapping, one late
        frame = av.VideoFrame.from_ndarray(np.zeros((8, 8, 3), np.uint8), format="rgb24")
        frame.pts, frame.time_base = raw, Fraction(1, 90000)
        clock.stamp(frame)
        assert frame.time is not None
        times.append(frame.time)
    start = times[0]
    assert 0 <= start < 0.5
    assert [round(t - start, 4) for t in times] == [0.0, 0.0333, 0.0667, 0.1, 0.0833, 0.1333]


def test_sdp_checks_need_media_the_publisher_sends() -> None:
    """Only audio/video m-lines that send (sendonly/sendrecv, port not 0) count; anything else is 422."""
    from framesentry.errors import SdpError
    from framesentry.stream.whip_sdp import sending_kinds

    head = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    video = "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
    audio = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    assert sending_kinds(head + video + "a=sendonly\r\n" + audio + "a=sendrecv\r\n") == ["video", "audio"]
    assert sending_kinds(head + audio) == ["audio"]  # direction defaults to sendrecv
    for bad in (
        head + video + "a=recvonly\r\n",
        head + "a=inactive\r\n" + video,
        head + "m=video 0 UDP/TLS/RTP/SAVPF 96\r\n",
        head + "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n",
        "not sdp at all",
    ):
        with pytest.raises(SdpError):
            sending_kinds(bad)


