"""Per-key rate limits, daily upload quotas and throttling of wrong keys, on the ``limits`` library.

Counters live in the broker's Redis in the distributed mode (shared by every API replica; keys under the
broker key prefix) and in memory in the embedded mode. Moving windows for requests and failed keys (no burst
at a window edge), a fixed UTC-day window for the upload quota. A limiter whose Redis cannot be reached lets
requests through (logged): an outage of the counters must not take the API down with it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerMinute, parse_many
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from framesentry.config import Settings
from framesentry.errors import QuotaExceededError, RateLimitedError

log = logging.getLogger(__name__)


def storage_for(settings: Settings) -> Storage:
    if settings.embedded or not str(settings.broker_url).startswith(("redis://", "rediss://")):
        return MemoryStorage()
    return RedisStorage(str(settings.broker_url), key_prefix=f"{settings.broker_key_prefix}framesentry:limits",
                        socket_timeout=settings.broker_timeout_s, socket_connect_timeout=settings.broker_timeout_s)


class RateLimits:
    """What the API checks: ``requests`` per caller, ``failures`` per client address, ``uploads`` per key/day."""

    def __init__(self, settings: Settings) -> None:
        self.storage = storage_for(settings)
        self.moving = MovingWindowRateLimiter(self.storage)
        self.fixed = FixedWindowRateLimiter(self.storage)
        self.requests: list[RateLimitItem] = parse_many(settings.rate_limit) if settings.rate_limit else []
        self.failures: RateLimitItem | None = (
            RateLimitItemPerMinute(settings.auth_failures_per_minute) if settings.auth_failures_per_minute else None
        )
        self.uploads: RateLimitItem | None = (
            RateLimitItemPerDay(settings.upload_quota_per_day) if settings.upload_quota_per_day else None
        )

    def _retry_after(self, limiter: Any, item: RateLimitItem, *ids: str) -> float:
        try:
            return max(1.0, limiter.get_window_stats(item, *ids).reset_time - time.time())
        except Exception:  # the stats are advice only
            return float(item.get_expiry())

    def _safely(self, call: Any, *args: Any) -> bool:
        try:
            return bool(call(*args))
        except Exception as exc:
            log.warning("rate limiter unavailable, letting the request through: %s", exc)
            return True

    def check_request(self, caller: str) -> None:
        """Count one request of ``caller`` (a key's public id or ``addr:<ip>``); 429 once over the limit."""
        for item in self.requests:
            if not self._safely(self.moving.hit, item, "req", caller):
                raise RateLimitedError(f"Too many requests: the limit is {item}.",
                                       self._retry_after(self.moving, item, "req", caller), limit=str(item))

    def check_upload(self, caller: str) -> None:
        """Count one upload against the caller's daily quota; 429 ``quota_exceeded`` once it is used up."""
        if self.uploads is not None and not self._safely(self.fixed.hit, self.uploads, "upload", caller):
            raise QuotaExceededError(
                f"The daily upload quota ({self.uploads.amount}) is used up.",
                self._retry_after(self.fixed, self.uploads, "upload", caller), limit=str(self.uploads),
            )

    def guard_address(self, address: str | None) -> None:
        """Refuse an address that sent too many wrong keys recently (before its key is even looked up)."""
        if self.failures is None or address is None:
            return
        if not self._safely(self.moving.test, self.failures, "authfail", address):
            raise RateLimitedError(
                "Too many requests with wrong API keys from this address; wait before trying again.",
                self._retry_after(self.moving, self.failures, "authfail", address),
            )

    def record_failure(self, address: str | None) -> None:
        if self.failures is not None and address is not None:
            self._safely(self.moving.hit, self.failures, "authfail", address)
