"""Webhooks: an HMAC-SHA256-signed POST to the analysis's ``callback_url`` when it finishes or fails.

Signature header (Stripe-style, so receivers can reject replays):
``X-FrameSentry-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>``.
Every attempt of one event carries the same ``X-FrameSentry-Delivery`` id; each attempt is a row in
``webhook_deliveries``. Failed attempts (network error or non-2xx) are retried with exponential backoff.
The destination is checked at send time (``jobs.egress``): internal addresses are refused unless allow-listed,
and an attempt is reported only by its status class, never by what exactly the remote said.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from framesentry.errors import BlockedDestinationError
from framesentry.jobs import egress
from framesentry.jobs.context import JobContext
from framesentry.store import analyses as repo
from framesentry.store import webhooks as hooks
from framesentry.store.models import Analysis, AnalysisStatus, utcnow

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-FrameSentry-Signature"
EVENT_HEADER = "X-FrameSentry-Event"
DELIVERY_HEADER = "X-FrameSentry-Delivery"
ATTEMPT_HEADER = "X-FrameSentry-Attempt"
MAX_BACKOFF_S = 300.0
USER_AGENT = "FrameSentry-Webhook/1"
BLOCKED = "blocked"
UNREACHABLE = "unreachable"
NOT_ACCEPTED = "not_accepted"


def outcome_class(status_code: int | None, error: str | None) -> str:
    """What an attempt is reported as: a status class (``2xx``..``5xx``), ``blocked`` or ``unreachable``."""
    if status_code is not None:
        return f"{status_code // 100}xx"
    return BLOCKED if error == BLOCKED else UNREACHABLE


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, body: bytes, header: str, *, tolerance_s: float = 300.0, now: float | None = None) -> bool:
    """Receiver side: True if ``header`` signs ``body`` with ``secret`` and is fresh (replay protection)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


def event_for(status: str) -> str:
    return "analysis.completed" if status == AnalysisStatus.DONE.value else "analysis.failed"


def payload(analysis: Analysis, event: str, delivery_id: uuid.UUID) -> dict[str, Any]:
    """A small summary; the full result is one GET away (``links.self``)."""
    error = None
    if analysis.status == AnalysisStatus.FAILED.value:
        error = {"code": analysis.error_code, "message": analysis.error_message}
    return {
        "event": event,
        "delivery_id": str(delivery_id),
        "sent_at": utcnow().isoformat(),
        "analysis": {
            "id": str(analysis.id),
            "status": analysis.status,
            "verdict": analysis.verdict,
            "p_fake": analysis.p_fake,
            "confidence": analysis.confidence,
            "visual_p_fake": analysis.visual_p_fake,
            "audio_p_fake": analysis.audio_p_fake,
            "sha256": analysis.video.sha256,
            "error": error,
            "links": {"self": f"/v1/analyses/{analysis.id}"},
        },
    }


def backoff_s(base_s: float, attempt: int) -> float:
    """Delay before attempt ``attempt + 1``: base, 2·base, 4·base … capped."""
    return float(min(MAX_BACKOFF_S, base_s * 2 ** max(0, attempt - 1)))


@dataclass(frozen=True)
class AttemptOutcome:
    """``retry_in_s`` is None when there is nothing more to do (delivered, given up, or analysis gone)."""

    delivered: bool
    attempt: int
    retry_in_s: float | None


def deliver(ctx: JobContext, analysis_id: uuid.UUID, delivery_id: uuid.UUID) -> AttemptOutcome:
    """Make one attempt and record it; say whether and when to try again."""
    settings = ctx.settings
    with ctx.db.transaction() as session:
        analysis = repo.get(session, analysis_id)
        if analysis is None or not analysis.callback_url or hooks.delivered(session, delivery_id):
            return AttemptOutcome(delivered=False, attempt=0, retry_in_s=None)
        url = analysis.callback_url
        event = event_for(analysis.status)
        body = json.dumps(payload(analysis, event, delivery_id), separators=(",", ":")).encode()
        attempt = sum(1 for a in hooks.attempts_for(session, analysis_id) if a.delivery_id == delivery_id) + 1
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: event,
        DELIVERY_HEADER: str(delivery_id),
        ATTEMPT_HEADER: str(attempt),
        SIGNATURE_HEADER: sign(settings.webhook_secret.get_secret_value(), body, int(time.time())),
    }
    status_code: int | None = None
    error: str | None = None
    started = time.perf_counter()
    try:
        response = egress.post_pinned(url, content=body, headers=headers, timeout_s=settings.webhook_timeout_s,
                                      networks=egress.parse_networks(settings.webhook_allowed_networks))
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = NOT_ACCEPTED
    except BlockedDestinationError:
        error = BLOCKED
    except httpx.HTTPError as exc:
        # What failed (refused, reset, not HTTP, timeout) stays in the worker's log: recorded, it would let
        # callers map ports of hosts the worker can reach.
        log.info("webhook to %s: %s: %s", url, type(exc).__name__, exc)
        error = UNREACHABLE
    ok = error is None
    with ctx.db.transaction() as session:
        if repo.get(session, analysis_id) is not None:
            hooks.record_attempt(
                session,
                analysis_id=analysis_id,
                delivery_id=delivery_id,
                event=event,
                url=url,
                attempt=attempt,
                status_code=status_code,
                error=error,
                duration_ms=(time.perf_counter() - started) * 1000,
                succeeded=ok,
            )
    if ok or error == BLOCKED or attempt >= settings.webhook_max_attempts:
        return AttemptOutcome(delivered=ok, attempt=attempt, retry_in_s=None)
    return AttemptOutcome(delivered=False, attempt=attempt, retry_in_s=backoff_s(settings.webhook_backoff_s, attempt))
