"""The browser SDK's own tests (``sdk/js/test``, node's built-in runner) run with the Python suite, so CI runs them.

They drive ``verify()`` against scripted stand-ins for fetch, WebSocket and RTCPeerConnection; the real browser
path is covered by tests/test_console_browser.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

SDK = Path(__file__).resolve().parent.parent / "sdk" / "js"


def test_sdk_unit_tests_pass_under_node() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (scripts/setup.sh installs the Debian package 'nodejs')")
    done = subprocess.run([node, "--test", "test/"], cwd=SDK, capture_output=True, text=True, timeout=120)
    counts = dict(re.findall(r"^# (tests|pass|fail) (\d+)$", done.stdout, flags=re.M))
    assert done.returncode == 0 and counts.get("fail") == "0", done.stdout[-4000:] + done.stderr[-2000:]
    assert int(counts.get("pass", "0")) >= 4, counts
