"""``WS /v1/streams/{id}/scores``: score messages of a live stream as they are made.

Auth as for REST, never in the URL (access logs record URLs): the ``X-API-Key`` header, or, for browsers
(which cannot set WebSocket headers), the subprotocol list ``["framesentry.v1", "framesentry.auth.<credential
as unpadded base64url>"]``; the server accepts ``framesentry.v1``. The credential is an API key (any of the
owner's streams) or a stream key (the streams it publishes only: what a call product's browser holds).
A slow client gets the newest messages (its queue drops the oldest), never stalls the stream.
Close codes: 4401 unauthorized, 4404 unknown stream; 1000 after the final ``{"type": "end"}`` message.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import uuid
from collections.abc import Mapping

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from framesentry.api.deps import authorise
from framesentry.api.services import Services
from framesentry.errors import AuthError, FrameSentryError, NotFoundError
from framesentry.store import streams as repo
from framesentry.stream.messages import EndMessage

router = APIRouter(tags=["streams"])
CLOSE_CODES = {401: 4401, 403: 4403, 404: 4404}
SUBPROTOCOL = "framesentry.v1"
AUTH_PREFIX = "framesentry.auth."


def credential(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(the caller's credential, the subprotocol to accept) from the handshake headers."""
    offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    accept = SUBPROTOCOL if SUBPROTOCOL in offered else None
    token = next((p[len(AUTH_PREFIX):] for p in offered if p.startswith(AUTH_PREFIX)), None)
    if token is not None:
        try:
            return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8"), accept
        except (binascii.Error, UnicodeDecodeError):
            return "", accept  # present but unreadable: refused like a wrong key
    return headers.get("x-api-key"), accept


def _authorise(services: Services, secret: str | None, stream_id: uuid.UUID, client: str | None) -> None:
    """The owner's API key (with a role that may read streams) opens any of their streams; a stream key opens
    the streams it publishes."""
    try:
        owner = authorise(services, secret, "streams:read", client)
    except AuthError:
        if not secret or not _publisher_of(services, secret, stream_id):
            raise
        return
    with services.db.session() as session:
        if repo.get_stream(session, stream_id, owner_id=owner.id) is not None:
            return
    if not (secret and _publisher_of(services, secret, stream_id)):
        raise NotFoundError(f"No stream with id '{stream_id}'.", stream_id=str(stream_id))


def _publisher_of(services: Services, secret: str, stream_id: uuid.UUID) -> bool:
    with services.db.session() as session:
        key = repo.resolve_stream_key(session, secret)
        row = repo.get_stream(session, stream_id) if key is not None else None
        return key is not None and row is not None and row.key_id == key.id


@router.websocket("/streams/{stream_id}/scores")
async def stream_scores(websocket: WebSocket, stream_id: uuid.UUID) -> None:
    services: Services = websocket.app.state.services
    secret, subprotocol = credential(websocket.headers)
    await websocket.accept(subprotocol=subprotocol)
    try:
        client = websocket.client.host if websocket.client else None
        await run_in_threadpool(_authorise, services, secret, stream_id, client)
        if services.live is None:
            raise NotFoundError("live detection is not enabled on this server")
        broadcaster, sub = services.live.subscribe(stream_id)
    except FrameSentryError as exc:
        await websocket.send_json({"type": "error", "error": exc.to_dict()})
        await websocket.close(code=CLOSE_CODES.get(exc.http_status, 1011), reason=exc.code)
        return
    gone = asyncio.create_task(_until_disconnect(websocket))
    try:
        while True:
            nxt = asyncio.create_task(sub.get())
            done, _ = await asyncio.wait({nxt, gone}, return_when=asyncio.FIRST_COMPLETED)
            if gone in done:
                nxt.cancel()
                return
            message = nxt.result()
            if message is None:
                session = services.live.sessions.get(stream_id)
                end = EndMessage(stream_id=str(stream_id), reason=session.end_reason if session else None,
                                 client_dropped=sub.dropped)
                await websocket.send_json(end.model_dump(mode="json"))
                await websocket.close(code=1000)
                return
            await websocket.send_json(message)
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        broadcaster.unsubscribe(sub)
        gone.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await gone


async def _until_disconnect(websocket: WebSocket) -> None:
    """Clients send nothing we need; reading tells us when they leave."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
