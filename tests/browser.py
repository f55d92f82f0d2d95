"""Headless Debian Chromium with a fake camera and microphone, driven over the DevTools protocol.

Used by tests that need a real browser to publish over WebRTC. Chromium is the system one
(``scripts/setup.sh`` installs the ``chromium`` package); nothing here downloads a browser. The fake devices
play files the test makes from a generated clip, looping: a .y4m for the camera and a .wav for the microphone.

    y4m, wav = fake_capture_files(clip, tmp_path)
    with Chromium(url, video=y4m, audio=wav, profile_dir=tmp_path / "profile") as browser:
        state = browser.wait_for("window.whipState", lambda s: s and s["state"] == "publishing", timeout_s=20)
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def find_chromium() -> str | None:
    """The browser to use: ``$CHROMIUM_BIN``, else the Debian package's binary, else None."""
    configured = os.environ.get("CHROMIUM_BIN")
    if configured:
        return configured if Path(configured).exists() else None
    for path in CANDIDATES:
        if Path(path).exists():
            return path
    return shutil.which("chromium")


def fake_capture_files(
    clip: Path, out_dir: Path, *, seconds: float = 4.0, size: tuple[int, int] = (640, 360), fps: int = 15
) -> tuple[Path, Path]:
    """Turn a clip into the camera (.y4m, raw I420) and microphone (.wav, 16-bit 48 kHz mono) files Chromium
    plays in place of real devices. Kept short and small: Chromium reads the .y4m into memory and loops it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    y4m, wav = out_dir / f"{clip.stem}.y4m", out_dir / f"{clip.stem}.wav"
    base = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(clip), "-t", f"{seconds:g}"]
    subprocess.run(
        [*base, "-an", "-vf", f"scale={size[0]}:{size[1]},fps={fps}", "-pix_fmt", "yuv420p", str(y4m)],
        check=True, timeout=60,
    )
    subprocess.run([*base, "-vn", "-ac", "1", "-ar", "48000", "-c:a", "pcm_s16le", str(wav)], check=True, timeout=60)
    return y4m, wav


class Chromium:
    """A headless Chromium showing ``url``, fake devices granted, with a DevTools connection to that page."""

    def __init__(
        self,
        url: str,
        *,
        video: Path,
        audio: Path,
        profile_dir: Path,
        binary: str | None = None,
        extra_args: Sequence[str] = (),
        start_timeout_s: float = 30.0,
    ) -> None:
        self.url = url
        self._binary = binary or find_chromium()
        if self._binary is None:
            raise FileNotFoundError("chromium is not installed (scripts/setup.sh installs the Debian package)")
        self._profile = profile_dir
        self._args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--mute-audio",
            f"--user-data-dir={profile_dir}",
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
            f"--use-file-for-fake-audio-capture={audio}",
            "--autoplay-policy=no-user-gesture-required",
            # Offer real host addresses, not mDNS names, to a peer on this machine.
            "--disable-features=WebRtcHideLocalIpsWithMdns",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            *extra_args,
        ]
        self._start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._ws: Any = None
        self._ids = itertools.count(1)
        self.log_path = profile_dir.parent / f"{profile_dir.name}-chromium.log"

    # -- lifetime -------------------------------------------------------------------------------------

    def __enter__(self) -> Chromium:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        from websockets.sync.client import connect

        self._profile.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        assert self._binary is not None
        self._proc = subprocess.Popen(
            [self._binary, *self._args, self.url], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()
        port = self._devtools_port()
        self._ws = connect(self._page_ws_url(port), max_size=None, open_timeout=10)

    def stop(self) -> None:
        """Close the DevTools connection and the browser (killed if it does not exit within 5 s)."""
        if self._ws is not None:
            with contextlib.suppress(Exception):
                self._ws.close()
            self._ws = None
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        self._proc = None

    def log_tail(self, n: int = 40) -> str:
        """The end of Chromium's own output, for failure messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def _devtools_port(self) -> int:
        """Chromium writes the port it picked to ``DevToolsActivePort`` in the profile once it listens."""
        marker = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + self._start_timeout_s
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self._proc.returncode}:\n{self.log_tail()}")
            if marker.exists():
                first = marker.read_text().splitlines()[:1]
                if first and first[0].strip().isdigit():
                    return int(first[0])
            time.sleep(0.1)
        raise TimeoutError(f"chromium did not open its DevTools port:\n{self.log_tail()}")

    def _page_ws_url(self, port: int) -> str:
        import httpx

        deadline = time.monotonic() + self._start_timeout_s
        while time.monotonic() < deadline:
            try:
                targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
            except httpx.HTTPError:
                targets = []
            pages = [t for t in targets if t.get("type") == "page" and "webSocketDebuggerUrl" in t]
            if pages:
                return str(pages[0]["webSocketDebuggerUrl"])
            time.sleep(0.1)
        raise TimeoutError(f"chromium opened no page:\n{self.log_tail()}")

    # -- DevTools -------------------------------------------------------------------------------------

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command on the page; events arriving meanwhile are ignored."""
        assert self._ws is not None, "browser not started"
        ident = next(self._ids)
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv(timeout=30))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result

    def evaluate(self, expression: str, *, await_promise: bool = False) -> Any:
        """The JSON value of a JavaScript expression in the page (``awaitPromise`` for async ones). While the page
        is between documents (a navigation or reload) there is no execution context: wait for the new one."""
        for attempt in range(50):
            try:
                result = self.call(
                    "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=await_promise
                )
                break
            except RuntimeError as exc:
                if "Cannot find default execution context" not in str(exc) or attempt == 49:
                    raise
                time.sleep(0.1)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(
        self, expression: str, predicate: Callable[[Any], bool], *, timeout_s: float = 20.0, every_s: float = 0.2
    ) -> Any:
        """Evaluate ``expression`` until ``predicate`` holds for its value; its last value on timeout."""
        deadline = time.monotonic() + timeout_s
        value = self.evaluate(expression)
        while not predicate(value):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expression} stayed {value!r} for {timeout_s} s:\n{self.log_tail(15)}")
            time.sleep(every_s)
            value = self.evaluate(expression)
        return value

    # -- page helpers ---------------------------------------------------------------------------------

    def screenshot(self, path: Path, *, width: int = 1366, height: int = 900, mobile: bool = False,
                   full_page: bool = True) -> Path:
        """A PNG of the page laid out at a viewport size (phones: ``mobile=True``, e.g. 390x844 at scale 2);
        ``full_page`` grows the viewport to the page's height (at most 6000 px) to show all of it."""
        import base64

        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=2 if mobile else 1, mobile=mobile)
        time.sleep(0.6)  # layout, canvas redraw after the resize
        if full_page:
            tall = min(6000, int(self.evaluate("document.documentElement.scrollHeight") or height))
            if tall > height:
                self.call("Emulation.setDeviceMetricsOverride", width=width, height=tall,
                          deviceScaleFactor=2 if mobile else 1, mobile=mobile)
                time.sleep(0.6)
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def set_files(self, selector: str, paths: Sequence[Path]) -> None:
        """Choose files in an ``<input type=file>`` as a person would (its change event fires)."""
        root = self.call("DOM.getDocument", depth=0)["root"]["nodeId"]
        node = self.call("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        if not node:
            raise LookupError(f"no element matches {selector!r}")
        self.call("DOM.setFileInputFiles", nodeId=node, files=[str(p) for p in paths])

