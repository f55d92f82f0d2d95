"""One exception hierarchy for the whole product.

Every error a user can cause or meet is a ``FrameSentryError`` with a stable ``code`` and a message meant
for people. The API maps these to HTTP responses in one place; the CLI prints ``message`` without a
traceback.
"""

from __future__ import annotations

from typing import Any


class FrameSentryError(Exception):
    """Base of every expected, user-facing failure."""

    code: str = "framesentry_error"
    http_status: int = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class ConfigError(FrameSentryError):
    code = "config_error"
    http_status = 500


class MediaError(FrameSentryError):
    """The input is not media we can analyse."""

    code = "media_error"
    http_status = 422


class EmptyMediaError(MediaError):
    code = "empty_file"


class NotMediaError(MediaError):
    code = "not_media"


class CorruptMediaError(MediaError):
    code = "corrupt_media"


class NoStreamsError(MediaError):
    code = "no_audio_or_video"


class UnsupportedCodecError(MediaError):
    code = "unsupported_codec"


class MediaLimitError(MediaError):
    """Over a configured cap (duration, size, resolution)."""

    code = "over_limit"
    http_status = 413


class ModelError(FrameSentryError):
    """A model or engine file is missing, stale or fails to load."""

    code = "model_error"
    http_status = 503


class DataError(FrameSentryError):
    """Training/evaluation data is missing or malformed."""

    code = "data_error"
    http_status = 500


class NotFoundError(FrameSentryError):
    code = "not_found"
    http_status = 404


# --- service (API, jobs, storage) -- owned by the service helper ----------------------------------------------


class UnsupportedMediaTypeError(MediaError):
    """The upload is not a media container we accept (sniffed from its first bytes or its declared type)."""

    code = "unsupported_media_type"
    http_status = 415


class RequestError(FrameSentryError):
    """The request itself is malformed (missing part, bad field value)."""

    code = "invalid_request"
    http_status = 422


class InvalidCallbackUrlError(RequestError):
    code = "invalid_callback_url"


class BlockedDestinationError(InvalidCallbackUrlError):
    """A callback URL whose host is (or resolves to) an internal address that webhooks may not reach."""


class AuthError(FrameSentryError):
    """Missing or unknown API key."""

    code = "unauthorized"
    http_status = 401


class ForbiddenError(FrameSentryError):
    """The caller is known but may not do this (role), or the request comes from a foreign origin."""

    code = "forbidden"
    http_status = 403


class CrossOriginError(ForbiddenError):
    """A browser request from an origin that is neither this server nor a configured CORS origin."""


class RateLimitedError(FrameSentryError):
    """Over a rate limit; ``retry_after_s`` becomes the Retry-After header."""

    code = "too_many_requests"
    http_status = 429

    def __init__(self, message: str, retry_after_s: float, **details: Any) -> None:
        super().__init__(message, retry_after_s=round(retry_after_s, 1), **details)
        self.retry_after_s = retry_after_s


class QuotaExceededError(RateLimitedError):
    """A per-key quota (uploads per day) is used up."""

    code = "quota_exceeded"


class ConflictError(FrameSentryError):
    """The request contradicts an earlier one (e.g. an Idempotency-Key reused for another file)."""

    code = "conflict"
    http_status = 409


class ServiceUnavailableError(FrameSentryError):
    """A backing service (broker, database) cannot be reached right now; retrying later may succeed."""

    code = "service_unavailable"
    http_status = 503


class TransientError(FrameSentryError):
    """A fault worth retrying (lost connection, busy database); jobs retry these with backoff."""

    code = "transient_error"
    http_status = 503


class JobTimeLimitError(FrameSentryError):
    """An analysis ran past ``job_time_limit_s``."""

    code = "time_limit_exceeded"
    http_status = 500


# --- engines (backends, built engines, batcher) -- owned by the engines helper -------------------------------


class StaleEngineError(ModelError):
    """A built engine does not match the model, the backend version or the device it would run on."""

    code = "stale_engine"


class BackpressureError(FrameSentryError):
    """A batcher's queue is full: the caller should shed load (skip a frame, retry later), not wait."""

    code = "overloaded"
    http_status = 503


class EngineStuckError(ModelError):
    """One forward pass ran past the watchdog's limit; its batch was failed and the worker replaced."""

    code = "engine_stuck"


class BatcherStoppedError(ServiceUnavailableError):
    """The batcher was stopped (shutdown) before this item was run."""

    code = "batcher_stopped"


# --- webrtc (WHIP ingest) -- owned by the WHIP helper ------------------------------------------------------


class SdpError(RequestError):
    """A WHIP offer that is not SDP we can answer (unparsable, or no audio or video to receive)."""

    code = "invalid_sdp"


# --- live ingest (RTMP listener) -- owned by the RTMP helper ------------------------------------------------


class RtmpProtocolError(MediaError):
    """An RTMP peer broke the protocol (bad handshake, malformed chunk or command, oversized message)."""

    code = "rtmp_protocol_error"


class LLMError(FrameSentryError):
    """The optional OpenAI-compatible endpoint failed or is not configured; callers fall back to code."""

    code = "llm_unavailable"
    http_status = 502


class NotReadyError(FrameSentryError):
    """What was asked for does not exist yet (e.g. the deep pass is still running); ask again later."""

    code = "not_ready"
    http_status = 409
