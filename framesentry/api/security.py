"""Browser-facing hardening, as pure ASGI middleware: an Origin check against cross-site requests, the CORS
policy, and security headers on every answer.

Why an Origin check on top of CORS: a foreign page can send a multipart ``POST`` (a "simple" request) without
any preflight, so CORS alone never stops it from uploading with the visitor's network position (keys off).
Browsers always send ``Origin`` on cross-origin unsafe requests and WebSocket handshakes; a request whose Origin
is neither this server nor a configured origin is refused. Requests without Origin (curl, servers) pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from framesentry.api.errors import response_for
from framesentry.errors import CrossOriginError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BASE_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
API_CSP = b"default-src 'none'; frame-ancestors 'none'"
"""JSON answers are never rendered; if one is opened in a browser it may load nothing."""
PAGE_CSP = (b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            b"img-src 'self' data:; connect-src 'self'; media-src 'self' blob: mediastream:; "
            b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
DOCS_CSP = (b"default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            b"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            b"img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; worker-src 'self' blob:; "
            b"frame-ancestors 'none'; base-uri 'none'")
"""Swagger UI and ReDoc load their assets from the CDN FastAPI points at, with an inline start-up script."""


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def own_origins(scope: Scope) -> set[str]:
    """The origins this request's Host header names (http and https: TLS may end at a proxy)."""
    host = _header(scope, b"host")
    return {f"http://{host}", f"https://{host}"} if host else set()


class OriginGuard:
    """Refuse unsafe requests and WebSocket handshakes from a foreign ``Origin``."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = {o.rstrip("/").lower() for o in allowed}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            origin = _header(scope, b"origin")
            checked = scope["type"] == "websocket" or scope.get("method", "GET") not in SAFE_METHODS
            if checked and origin is not None and not self._ok(scope, origin):
                error = CrossOriginError(
                    f"Requests from the origin '{origin}' are not accepted; set FRAMESENTRY_CORS_ORIGINS to allow "
                    "a browser application on another origin.", origin=origin,
                )
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 4403, "reason": error.code})
                    return
                await response_for(error)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _ok(self, scope: Scope, origin: str) -> bool:
        origin = origin.rstrip("/").lower()
        return origin in self.allowed or origin in {o.lower() for o in own_origins(scope)}


class SecurityHeaders:
    """nosniff, frame options, referrer policy on every answer; a CSP by what is served."""

    def __init__(self, app: ASGIApp, docs_paths: Iterable[str] = ("/docs", "/redoc")) -> None:
        self.app = app
        self.docs_paths = tuple(docs_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = [h for h in message.get("headers", []) if h[0].lower() != b"server"]
                names = {h[0].lower() for h in headers}
                headers += [h for h in BASE_HEADERS if h[0] not in names]
                if b"content-security-policy" not in names:
                    content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                    html = content_type.startswith(b"text/html")
                    csp = DOCS_CSP if path.startswith(self.docs_paths) else PAGE_CSP if html else API_CSP
                    headers.append((b"content-security-policy", csp))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
