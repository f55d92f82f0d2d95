"""The one place where errors become HTTP responses: ``{"error": {"code", "message", "details"}}``.

Typed ``FrameSentryError``s keep their own status and code; request validation, unknown routes and wrong
methods get the same shape; anything unexpected is logged and answered with a generic 500 in the same shape.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from framesentry.api.schemas import ErrorResponse
from framesentry.errors import FrameSentryError, ServiceUnavailableError

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "over_limit",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
}


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": jsonable_encoder(details or {})}}
    return JSONResponse(body, status_code=status, headers=headers)


def error_body(code: str, message: str) -> bytes:
    """The error shape as bytes, for answers written below the app (the HTTP protocol itself)."""
    return json.dumps({"error": {"code": code, "message": message, "details": {}}}).encode()


def response_for(exc: FrameSentryError) -> JSONResponse:
    """A typed error as its HTTP answer (also used by middleware, which runs outside the exception handlers)."""
    if exc.http_status >= 500:
        log.error("%s: %s %s", exc.code, exc.message, exc.details)
    headers: dict[str, str] | None = {"WWW-Authenticate": "ApiKey"} if exc.http_status == 401 else None
    retry_after = getattr(exc, "retry_after_s", None)
    if exc.http_status in (429, 503):
        headers = {"Retry-After": str(max(1, math.ceil(retry_after if retry_after is not None else 5)))}
    return error_response(exc.http_status, exc.code, exc.message, exc.details, headers)


async def _framesentry_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FrameSentryError)
    return response_for(exc)


async def _dependency_down(_request: Request, exc: Exception) -> JSONResponse:
    """The database (or broker) failed mid-request: 503 with Retry-After, never a 500."""
    log.error("dependency unreachable: %s: %s", type(exc).__name__, exc)
    return response_for(ServiceUnavailableError("A backing service is unreachable; please retry shortly.",
                                                reason=type(exc).__name__))


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"location": [str(p) for p in err.get("loc", ())], "message": err.get("msg", ""), "type": err.get("type")}
        for err in exc.errors()
    ]
    where = ", ".join(".".join(p["location"]) for p in problems)
    return error_response(422, "validation_error", f"Invalid request: {where}.", {"problems": problems})


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "Internal server error; it has been logged.")


def install(app: FastAPI) -> None:
    app.add_exception_handler(FrameSentryError, _framesentry_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for unreachable in (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError):
        app.add_exception_handler(unreachable, _dependency_down)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


DESCRIPTIONS = {
    400: "The request could not be read (a header over the size limit, or a malformed request).",
    401: "Missing, unknown, revoked or expired X-API-Key (only when API keys are on).",
    403: "The key's role may not do this, or the request comes from a foreign browser origin.",
    404: "No such analysis (or not yours).",
    409: "Idempotency-Key already used for a different file.",
    413: "File over the size, duration or resolution limit.",
    415: "Not a video or audio file we accept (sniffed from its first bytes), or not a multipart upload.",
    422: "Invalid request (bad field, bad callback URL) or media that cannot be analysed (empty, corrupt...).",
    429: "Too many requests (per key, or failed key attempts per address) or over a quota; see Retry-After.",
    503: "The job queue or database is unavailable; retry after Retry-After seconds.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries: these statuses answer with ``ErrorResponse``."""
    return {s: {"model": ErrorResponse, "description": DESCRIPTIONS.get(s, "Error.")} for s in statuses}
