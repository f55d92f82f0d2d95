"""``WS /v1/streams/{id}/scores``: score messages of a live stream as they are made.

Auth as for REST: the ``X-API-Key`` header, or ``?api_key=`` for browsers (which cannot set WebSocket
headers). A slow client gets the newest messages (its queue drops the oldest), never stalls the stream.
Close codes: 4401 unauthorized, 4404 unknown stream; 1000 after the final ``{"type": "end"}`` message.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from framesentry.api.deps import authorise
from framesentry.api.services import Services
from framesentry.errors import FrameSentryError, NotFoundError
from framesentry.store import streams as repo
from framesentry.stream.messages import EndMessage

router = APIRouter(tags=["streams"])
CLOSE_CODES = {401: 4401, 403: 4403, 404: 4404}


def _authorise(services: Services, api_key: str | None, stream_id: uuid.UUID, client: str | None) -> None:
    owner = authorise(services, api_key, "streams:read", client)
    with services.db.session() as session:
        if repo.get_stream(session, stream_id, owner_id=owner.id) is None:
            raise NotFoundError(f"No stream with id '{stream_id}'.", stream_id=str(stream_id))


@router.websocket("/streams/{stream_id}/scores")
async def stream_scores(websocket: WebSocket, stream_id: uuid.UUID) -> None:
    services: Services = websocket.app.state.services
    api_key = websocket.headers.get("x-api-key") or websocket.query_params.get("api_key")
    await websocket.accept()
    try:
        client = websocket.client.host if websocket.client else None
        await run_in_threadpool(_authorise, services, api_key, stream_id, client)
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
