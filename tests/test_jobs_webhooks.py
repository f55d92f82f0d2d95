"""Webhook signatures (what receivers rely on), backoff schedule, and the production guard on secrets."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from framesentry.config import DEV_WEBHOOK_SECRET, Settings
from framesentry.jobs.runner import retry_delay_s
from framesentry.jobs.webhooks import MAX_BACKOFF_S, backoff_s, sign, verify

BODY = b'{"event":"analysis.completed","analysis":{"id":"x"}}'


def test_signature_round_trip_and_tampering() -> None:
    now = int(time.time())
    header = sign("s3cret", BODY, now)
    assert header.startswith(f"t={now},v1=") and len(header.split("v1=")[1]) == 64
    assert verify("s3cret", BODY, header)
    assert not verify("other", BODY, header)
    assert not verify("s3cret", BODY.replace(b"x", b"y"), header)
    assert not verify("s3cret", BODY, header.replace(f"t={now}", f"t={now + 1}"))  # timestamp is signed too
    assert not verify("s3cret", BODY, "garbage")


def test_old_signatures_are_refused() -> None:
    """Replay protection: a captured request is useless after the tolerance window."""
    old = int(time.time()) - 3600
    assert not verify("s3cret", BODY, sign("s3cret", BODY, old))
    assert verify("s3cret", BODY, sign("s3cret", BODY, old), now=old + 10)


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_s(2.0, n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert backoff_s(2.0, 30) == MAX_BACKOFF_S
    assert [retry_delay_s(5.0, n) for n in (0, 1, 2)] == [5.0, 10.0, 20.0]


def test_production_refuses_default_secret_and_open_api() -> None:
    with pytest.raises(ValidationError, match="WEBHOOK_SECRET"):
        Settings(environment="production", api_keys="k")
    with pytest.raises(ValidationError, match="API_KEYS"):
        Settings(environment="production", webhook_secret="a-real-secret")
    ok = Settings(environment="production", webhook_secret="a-real-secret", api_keys="k")
    assert ok.webhook_secret.get_secret_value() != DEV_WEBHOOK_SECRET
    assert "a-real-secret" not in repr(ok)  # secrets stay out of logs
