"""The web console end to end in headless Debian Chromium (tests/browser.py drives it over DevTools) against
a real server (uvicorn, embedded worker, RTMP listener, WHIP): an upload through the page, an RTMP stream from
the ffmpeg CLI on the live monitor, and the fake camera publishing through the browser SDK.

Every test saves screenshots at a laptop and a phone viewport under its pytest tmp dir (``*.png``).
The live clip's face is the DFDC test split's fake crop #0, which the visual model scores ~1.0 (see
tests/test_live_e2e.py): the Fake alert must fire.
"""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from browser import Chromium, fake_capture_files, find_chromium
from live_helpers import create_stream, ffmpeg_publish, live_stream_of
from service_helpers import running_api, wait_for

from framesentry.config import Settings

API_KEY = "operator-key-1"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (scripts/setup.sh installs it)"),
]
CLIP_S = 8.0
LEAD_S = 3.0
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844, "mobile": True}


@pytest.fixture(scope="module")
def fake_clip(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> Path:
    from framesentry.lab.samples import load_rgb, shared_face_paths, speech_from_librispeech, write_clip

    face = load_rgb(shared_face_paths(settings, "fake", "test", n=1, offset=0)[0])  # type: ignore[arg-type]
    speech: np.ndarray = speech_from_librispeech(settings, CLIP_S)
    return write_clip(tmp_path_factory.mktemp("console") / "fake.mp4", duration_s=CLIP_S, size=(640, 360), fps=30,
                      faces=[(face, (230, 60, 200))], motion=True, audio=speech)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    from framesentry.api.app import create_app

    settings = Settings(work_dir=tmp_path_factory.mktemp("console-work"), live_enabled=True, rtmp_port=0,
                        api_keys=f"operator:{API_KEY}")
    app = create_app(settings)
    with running_api(app) as base:
        yield base, app.state.services


@pytest.fixture(scope="module")
def late_fake_clip(fake_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake clip after ``LEAD_S`` of a grey frame and silence: a page opened on the stream once it is live
    follows it before the verdict can turn Fake."""
    out = tmp_path_factory.mktemp("console-late") / "late_fake.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(fake_clip),
                    "-vf", f"tpad=start_duration={LEAD_S:g}:color=gray", "-af", f"adelay={LEAD_S * 1000:.0f}:all=1",
                    "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(out)], check=True, timeout=60)
    return out


@pytest.fixture()
def devices(fake_clip: Path, tmp_path: Path) -> tuple[Path, Path]:
    return fake_capture_files(fake_clip, tmp_path / "devices", seconds=CLIP_S, size=(640, 360), fps=15)


def _open(url: str, devices: tuple[Path, Path], tmp_path: Path) -> Chromium:
    """The console at ``url`` with the operator's API key entered in its key dialog (as a person would)."""
    browser = Chromium(url, video=devices[0], audio=devices[1], profile_dir=tmp_path / "profile")
    browser.start()
    browser.call("Emulation.setDeviceMetricsOverride", width=1366, height=900, deviceScaleFactor=1, mobile=False)
    # Without a key the server answers 401 and the console asks for one.
    browser.wait_for("!!document.querySelector('#key-dialog')?.open", bool, timeout_s=20)
    browser.evaluate(f"document.querySelector('#key-input').value = '{API_KEY}';"
                     "document.querySelector('#key-save').click()")
    browser.wait_for("document.querySelector('#key-button').textContent", lambda t: "✓" in t, timeout_s=60)
    return browser


def _client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=30, headers={"X-API-Key": API_KEY})


def _no_secret_in_urls(browser: Chromium, *secrets: str) -> None:
    """Neither the API key nor a stream key went into any URL the page requested (access logs record URLs)."""
    urls = browser.evaluate("performance.getEntriesByType('resource').map((e) => e.name)"
                            ".concat(performance.getEntriesByType('navigation').map((e) => e.name))")
    assert urls, "the page requested nothing?"
    leaked = [u for u in urls for s in secrets if s in u]
    assert not leaked, json.dumps(leaked)


def _shots(browser: Chromium, tmp_path: Path, name: str) -> list[Path]:
    """Laptop then phone screenshot of the current view; returns both paths (the viewport is left at laptop)."""
    shots = [browser.screenshot(tmp_path / f"{name}-laptop.png", **LAPTOP),  # type: ignore[arg-type]
             browser.screenshot(tmp_path / f"{name}-phone.png", **PHONE)]  # type: ignore[arg-type]
    browser.call("Emulation.setDeviceMetricsOverride", width=1366, height=900, deviceScaleFactor=1, mobile=False)
    assert all(p.stat().st_size > 5000 for p in shots), shots
    return shots


def _fits_the_phone(browser: Chromium) -> None:
    """At 390 px nothing makes the page scroll sideways (tables scroll inside their own box)."""
    browser.call("Emulation.setDeviceMetricsOverride", **PHONE, deviceScaleFactor=2)
    width = browser.wait_for("document.documentElement.scrollWidth", lambda w: w is not None, timeout_s=5)
    browser.call("Emulation.setDeviceMetricsOverride", width=1366, height=900, deviceScaleFactor=1, mobile=False)
    assert width <= 392, f"the page is {width} px wide on a 390 px phone"


def test_console_is_served_offline_with_its_modules_and_the_sdk(server: tuple[str, Any]) -> None:
    """`/` is the console (no CDN: every script and stylesheet is this server's), with a CSP that says so."""
    base, _ = server
    with _client(base) as client:
        page = client.get("/")
        assert page.status_code == 200 and "<title>FrameSentry console</title>" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert "http" not in page.text.replace('"/console/', ""), "the page must load nothing from elsewhere"
        for asset in ("/console/js/main.js", "/console/console.css", "/console/sdk/framesentry.js"):
            res = client.get(asset)
            assert res.status_code == 200 and len(res.content) > 500, asset
        sdk = (Path(__file__).resolve().parent.parent / "sdk" / "js" / "framesentry.js").read_bytes()
        assert client.get("/console/sdk/framesentry.js").content == sdk
        assert client.get("/console/../pyproject.toml").status_code == 404


def test_upload_through_the_page_shows_the_verdict(
    server: tuple[str, Any], clip_faces_speech: Path, devices: tuple[Path, Path], tmp_path: Path
) -> None:
    """Pick a generated clip on the Upload page: upload and analysis progress, then the verdict with the
    timeline, faces and segments, as the API reports them; no explanation or report panel while the API
    answers 404 for them."""
    base, _ = server
    browser = _open(f"{base}/#/upload", devices, tmp_path)
    try:
        browser.wait_for("!!document.querySelector('#file')", bool, timeout_s=20)
        browser.set_files("#file", [clip_faces_speech])
        result = browser.wait_for(
            "(() => { const r = document.querySelector('#analysis-result');"
            " return r && {status: r.dataset.status, verdict: r.dataset.verdict,"
            " shown: r.querySelector('.badge').textContent, p: document.querySelector('#p-fake').textContent,"
            " faces: document.querySelectorAll('#faces tbody tr').length,"
            " segments: document.querySelectorAll('#segments tbody tr').length,"
            " points: Number(document.querySelector('canvas.chart').dataset.points)}; })()",
            bool, timeout_s=240, every_s=1.0)
        with _client(base) as client:
            job = client.get("/v1/analyses", params={"limit": 1}).json()["items"][0]
            assert job["video"]["filename"] == clip_faces_speech.name
            detail = client.get(f"/v1/analyses/{job['id']}").json()
        assert result["status"] == "done", result
        assert result["verdict"] == detail["verdict"] and result["shown"] == detail["verdict"], (result, detail)
        assert result["p"] == f"{detail['p_fake']:.3f}"
        assert result["faces"] == len(detail["result"]["faces"]) >= 1
        assert result["segments"] == len(detail["result"]["segments"]) >= 1 and result["points"] >= 1
        browser.wait_for("document.querySelector('#extras') !== null", bool, timeout_s=5)
        assert browser.evaluate("document.querySelector('#report') === null")
        _shots(browser, tmp_path, "upload-result")
        _fits_the_phone(browser)

        browser.evaluate("location.hash = '#/history'")
        rows = browser.wait_for("document.querySelectorAll('#analyses tbody tr').length", lambda n: n >= 1)
        assert rows >= 1
        _shots(browser, tmp_path, "history")
        other = "real" if detail["verdict"] == "fake" else "fake"  # a filter that matches nothing here
        browser.evaluate(f"document.querySelector('#f-verdict').value = '{other}';"
                         "document.querySelector('#f-verdict').dispatchEvent(new Event('change'))")
        browser.wait_for("document.querySelector('#analyses p.muted')?.textContent",
                         lambda t: t == "No analysis matches.")
        _no_secret_in_urls(browser, API_KEY)
    finally:
        browser.stop()


def test_rtmp_stream_from_ffmpeg_appears_on_the_monitor_and_its_chart_moves(
    server: tuple[str, Any], fake_clip: Path, devices: tuple[Path, Path], tmp_path: Path
) -> None:
    """The monitor is open; ffmpeg publishes a registered source over RTMP: a tile with the source's name
    appears, its chart gains points while the stream plays, its verdict turns Fake and the alert shows."""
    base, _ = server
    browser = _open(f"{base}/#/monitor", devices, tmp_path)
    with _client(base) as client:
        created = create_stream(client, "studio-rtmp")
        publisher = ffmpeg_publish(fake_clip, created["ingest"]["rtmp"])
        try:
            stream_id = live_stream_of(client, created["id"])
            assert client.get(f"/v1/streams/{stream_id}").json()["name"] == "studio-rtmp"
            tile = f"document.querySelector('.tile[data-stream-id=\"{stream_id}\"]')"
            title = browser.wait_for(f"{tile}?.querySelector('h2').textContent", bool, timeout_s=20)
            assert title == "studio-rtmp"
            points = f"Number({tile}.querySelector('canvas').dataset.points)"
            first = browser.wait_for(points, lambda n: n >= 3, timeout_s=30)
            later = browser.wait_for(points, lambda n: n >= first + 4, timeout_s=30)
            assert later > first
            browser.wait_for(f"{tile}.dataset.verdict", lambda v: v == "fake", timeout_s=40)
            assert browser.evaluate(f"{tile}.classList.contains('is-fake')")
            alert = browser.evaluate("(() => { const a = document.querySelector('#alert');"
                                     " return !a.hidden && a.textContent; })()")
            assert alert and "studio-rtmp" in alert and "FAKE" in alert, alert
            dropped = browser.evaluate(f"{tile}.querySelector('.dropped').textContent")
            assert dropped.count("/") == 1, dropped
            _shots(browser, tmp_path, "monitor-live")
            _fits_the_phone(browser)

            browser.evaluate(f"location.hash = '#/stream/{stream_id}'")
            browser.wait_for("document.querySelectorAll('#faces tbody tr').length", lambda n: n >= 1, timeout_s=20)
            events = browser.wait_for("document.querySelector('#events').textContent", lambda t: "fake" in t,
                                      timeout_s=20)
            assert "→ fake" in events, events
            _shots(browser, tmp_path, "stream-detail")
            _no_secret_in_urls(browser, API_KEY, created["key"])
            assert publisher.wait(timeout=CLIP_S + 30) == 0, publisher.stderr.read() if publisher.stderr else ""
        finally:
            publisher.kill()
            browser.stop()


def test_fake_camera_publishes_through_the_sdk_and_scores_show_on_the_page(
    server: tuple[str, Any], devices: tuple[Path, Path], tmp_path: Path
) -> None:
    """Register a source on the Sources page, open the publisher from it ("Verify my camera", the SDK over
    WHIP with the key as a bearer token): scores arrive on the page and the verdict turns Fake; Stop ends the
    stream; revoking the key on the page lists it as revoked. The key never appears in a URL."""
    base, _ = server
    browser = _open(f"{base}/#/sources", devices, tmp_path)
    try:
        browser.wait_for("!!document.querySelector('#source-name')", bool, timeout_s=20)
        browser.evaluate("document.querySelector('#source-name').value = 'my-camera';"
                         "document.querySelector('form').requestSubmit()")
        key = browser.wait_for("document.querySelector('#new-key')?.textContent", bool)
        rtmp = browser.evaluate("document.querySelector('#rtmp-url').textContent")
        assert key.startswith("fsk_") and rtmp.endswith("/" + key)
        browser.wait_for("document.querySelector('#keys').textContent", lambda t: "my-camera" in t)
        _shots(browser, tmp_path, "sources")
        browser.evaluate("document.querySelector('#open-publisher').click()")
        browser.wait_for("location.hash", lambda h: h == "#/verify")
        assert browser.wait_for("document.querySelector('#stream-key')?.value", bool) == key
        browser.evaluate("document.querySelector('#start').click()")
        status = browser.wait_for("window.verifyStatus", lambda s: s and (s["scores"] >= 6 or s["state"] == "failed"),
                                  timeout_s=60)
        assert status["state"] == "publishing" and not status["errors"], status
        status = browser.wait_for("window.verifyStatus", lambda s: s["verdict"] == "fake", timeout_s=60)
        shown = browser.evaluate("[document.querySelector('#verify-verdict').textContent,"
                                 " Number(document.querySelector('#verify-count').dataset.count),"
                                 " Number(document.querySelector('canvas.chart').dataset.points)]")
        assert shown[0] == "fake" and shown[1] >= 6 and shown[2] >= 6, shown
        _shots(browser, tmp_path, "verify-camera")
        _fits_the_phone(browser)
        stream_id = status["streamId"]
        with _client(base) as client:
            info = client.get(f"/v1/streams/{stream_id}").json()
            assert info["source"] == "whip" and info["name"] == "my-camera" and info["state"] == "live"
            browser.evaluate("window.verifyStop()", await_promise=True)
            info = wait_for(lambda: (r := client.get(f"/v1/streams/{stream_id}").json())["state"] != "live" and r,
                            15, "the stream to end")
            assert info["end_reason"] == "ended"
        _no_secret_in_urls(browser, key, API_KEY)

        browser.evaluate("location.hash = '#/sources'")
        row = "[...document.querySelectorAll('#keys tbody tr')].find((r) => r.textContent.includes('my-camera'))"
        browser.wait_for(f"!!{row}?.querySelector('button.danger')", bool)
        browser.evaluate(f"window.confirm = () => true; {row}.querySelector('button.danger').click()")
        browser.wait_for("document.querySelector('#keys').textContent", lambda t: "my-camera" not in t)
        browser.evaluate("document.querySelector('#show-revoked').click()")
        revoked = browser.wait_for(f"{row}?.textContent", bool)
        assert "revoked" in revoked, revoked
    finally:
        browser.stop()


def test_stream_page_shows_the_heat_map_of_the_frame_that_turned_it_fake(
    late_fake_clip: Path, devices: tuple[Path, Path], tmp_path: Path
) -> None:
    """On a server that explains live Fake frames, a stream's page is open when its verdict turns Fake: the
    heat map the `verdict_changed` event links to appears there (a decoded thumbnail linking to the image, the
    artifact the API serves) and stays after the stream is stopped."""
    from PIL import Image

    from framesentry.api.app import create_app

    settings = Settings(work_dir=tmp_path / "work", live_enabled=True, rtmp_port=0, explain_enabled=True,
                        api_keys=f"operator:{API_KEY}")
    with running_api(create_app(settings)) as base, _client(base) as client:
        browser = _open(f"{base}/#/monitor", devices, tmp_path)
        created = create_stream(client, "studio-explained")
        publisher = ffmpeg_publish(late_fake_clip, created["ingest"]["rtmp"])
        try:
            stream_id = live_stream_of(client, created["id"])
            browser.evaluate(f"location.hash = '#/stream/{stream_id}'")
            # Following the scores while the picture is still empty: the change to Fake is yet to come.
            browser.wait_for("document.querySelectorAll('#now dd').length", bool, timeout_s=20)
            assert browser.evaluate("document.querySelector('#stream-verdict .badge').dataset.verdict") != "fake"
            image = ("(() => { const i = document.querySelector('#heatmaps img.heatmap');"
                     " return i && i.complete && i.naturalWidth > 0 && [i.naturalWidth, i.naturalHeight]; })()")
            size = browser.wait_for(image, bool, timeout_s=60, every_s=0.5)
            src, href = browser.evaluate("[document.querySelector('#heatmaps figure').dataset.src,"
                                         " document.querySelector('#heatmaps a').href]")
            assert src.startswith(f"/v1/streams/{stream_id}/artifacts/verdict_") and href.startswith("blob:"), src
            served = client.get(src)
            assert served.status_code == 200 and served.headers["content-type"] == "image/png"
            assert list(Image.open(io.BytesIO(served.content)).size) == size
            assert client.delete(f"/v1/streams/{stream_id}").status_code == 204  # stop it
            browser.wait_for("document.querySelector('#stream-state').textContent", lambda t: t.startswith("ended"),
                             timeout_s=20)
            assert browser.evaluate(image) == size  # kept on the page after the stream ended
            _shots(browser, tmp_path, "stream-heatmap")
            _fits_the_phone(browser)
            _no_secret_in_urls(browser, API_KEY, created["key"])
        finally:
            publisher.kill()
            browser.stop()
