"""How the API is served: uvicorn without a ``server`` header, and with an HTTP protocol whose own error answer
(a request uvicorn refuses before the app sees it: a header over the size limit, a malformed request line)
uses the API's one JSON error shape instead of uvicorn's plain text."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol

from framesentry.api.errors import error_body
from framesentry.api.security import API_CSP, BASE_HEADERS

MAX_HEADER_BYTES = 64 * 1024
"""Largest request head accepted (h11's ``max_incomplete_event_size``); above it: 400 in the JSON shape."""


LINGER_S = 2.0
"""After the 400, the rest of the request is read and dropped this long before closing: closing with unread
bytes makes the kernel send a reset, and the client may lose the answer before it reads it."""


class JsonErrorH11Protocol(H11Protocol):
    """uvicorn's h11 protocol; its 400 answer for requests it cannot parse is JSON."""

    draining = False

    def data_received(self, data: bytes) -> None:
        if not self.draining:
            super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        import h11

        body = error_body("bad_request", f"The request could not be read ({msg.rstrip('.')}): a header may be "
                          f"over the {MAX_HEADER_BYTES:,}-byte limit, or the request is malformed.")
        headers = [(b"content-type", b"application/json"), (b"connection", b"close"),
                   (b"content-length", str(len(body)).encode()), *BASE_HEADERS, (b"content-security-policy", API_CSP)]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body),
                      h11.EndOfMessage()):
            self.transport.write(self.conn.send(event) or b"")
        self.draining = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        asyncio.get_running_loop().call_later(LINGER_S, self.transport.close)


def uvicorn_config(app: Any, *, host: str, port: int, **options: Any) -> Config:
    """The uvicorn configuration ``serve`` uses (and the tests, so they test what runs)."""
    return Config(app, host=host, port=port, http=JsonErrorH11Protocol, server_header=False,
                  h11_max_incomplete_event_size=MAX_HEADER_BYTES, **options)
