"""The one settings object refuses what it does not know, and the CLI says so in one line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from framesentry.config import Settings


def test_unknown_framesentry_variable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo such as FRAMESENTRY_RTMP_PROT is an error naming the variable, not a silent default."""
    monkeypatch.setenv("FRAMESENTRY_RTMP_PROT", "1936")
    with pytest.raises(ValidationError, match="FRAMESENTRY_RTMP_PROT"):
        Settings()
    monkeypatch.delenv("FRAMESENTRY_RTMP_PROT")
    monkeypatch.setenv("FRAMESENTRY_RTMP_PORT", "1936")
    assert Settings().rtmp_port == 1936


def test_cli_reports_bad_settings_in_one_line() -> None:
    env = {**os.environ, "FRAMESENTRY_LIVE_VISUAL_FPZ": "4"}
    out = subprocess.run([sys.executable, "-m", "framesentry", "analyze", "nothing.mp4"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "config_error" in out.stderr and "FRAMESENTRY_LIVE_VISUAL_FPZ" in out.stderr
    assert "Traceback" not in out.stderr


def test_cli_reports_a_bad_option_value_as_usage_not_a_traceback() -> None:
    """typer raises its own vendored click's errors: they are shown as usage lines like click's."""
    env = {**os.environ, "FRAMESENTRY_BROKER_URL": "redis://127.0.0.1:6379/0"}
    out = subprocess.run([sys.executable, "-m", "framesentry", "worker", "--queues", "bogus"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "Invalid value for --queues" in out.stderr and "Usage:" in out.stderr
    assert "Traceback" not in out.stderr
