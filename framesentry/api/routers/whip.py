"""``/v1/whip``: WebRTC publishing over WHIP (RFC 9725), and the browser page that does it.

The stream key is the publisher's credential (checked by the hub's ``SinkOpener``): as a bearer token on
``POST /v1/whip`` (RFC 9725's way, and kept out of URLs that access logs record), or in the path of
``POST /v1/whip/{key}`` (for publishers that cannot set headers, e.g. OBS). The session's URL (``Location``) is
unguessable and bound to its key; DELETE on it ends the stream. A ``Link`` header with
``rel="urn:framesentry:scores"`` names the stream's score WebSocket. Neither trickle ICE nor ICE restarts are
offered, so PATCH is not routed (405): the answer already holds every candidate.
"""

from __future__ import annotations

from importlib import resources
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import HTMLResponse

from framesentry.api.deps import StreamsPublisher
from framesentry.api.errors import error_responses
from framesentry.errors import AuthError, MediaLimitError, ServiceUnavailableError, UnsupportedMediaTypeError
from framesentry.stream.whip import WhipHub, WhipResource
from framesentry.stream.whip_sdp import MAX_OFFER_BYTES

router = APIRouter(prefix="/whip", tags=["streams"])

SDP = "application/sdp"
SCORES_REL = "urn:framesentry:scores"
OFFER_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The publisher's complete SDP offer (ICE gathering finished: no trickle).",
        "content": {SDP: {"schema": {"type": "string"}}},
    }
}
ANSWER = {
    "description": "Publishing: the SDP answer (with all of the server's ICE candidates).",
    "content": {SDP: {"schema": {"type": "string"}}},
    "headers": {
        "Location": {"description": "The session's URL; DELETE it to stop.", "schema": {"type": "string"}},
        "ETag": {"description": "Entity tag of the ICE session.", "schema": {"type": "string"}},
        "Link": {"description": f'`</v1/streams/ID/scores>; rel="{SCORES_REL}"`: the live stream\'s score '
                 "WebSocket (the stream key authorises it for its own stream).", "schema": {"type": "string"}},
    },
}


WHY = {
    401: "Unknown stream key.",
    404: "No such WHIP session for this key (it may have ended already).",
    413: f"The offer is over {MAX_OFFER_BYTES} bytes.",
    415: f"The body is not {SDP}.",
    422: "The offer is not SDP we can answer (unparsable, or no audio or video sent by the publisher).",
    503: "The server cannot take another stream right now.",
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``error_responses`` with WHIP's own reasons."""
    found = error_responses(*statuses)
    for code, entry in found.items():
        entry["description"] = WHY.get(int(code), entry["description"])
    return found


async def _read_offer(request: Request) -> str:
    """The body, refused once it passes ``MAX_OFFER_BYTES`` (not read to the end first)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_OFFER_BYTES:
            raise MediaLimitError(f"The SDP offer is over {MAX_OFFER_BYTES} bytes.", max_bytes=MAX_OFFER_BYTES)
    return body.decode("utf-8", errors="replace")


def _hub(request: Request) -> WhipHub:
    """The WHIP side of the live hub; 503 when live ingest is off (FRAMESENTRY_LIVE_ENABLED=false) or stopped."""
    hub: WhipHub | None = getattr(request.app.state, "whip", None)
    if hub is None:
        raise ServiceUnavailableError("Live ingest is not running on this server.", reason="live_disabled")
    return hub


@router.get(
    "/publish.html",
    summary="Browser publishing page",
    response_class=HTMLResponse,
    responses={200: {"description": "Publishes the camera and microphone: /v1/whip/publish.html?key=STREAM_KEY "
                     "(optional &api_key=..., &autostart=0)."}},
)
def publish_page() -> HTMLResponse:
    """A page that publishes the browser's camera and microphone to ``/v1/whip/{key}``."""
    page = resources.files("framesentry.stream").joinpath("static/publish.html").read_text(encoding="utf-8")
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


@router.options(
    "/{key}",
    summary="WHIP endpoint capabilities",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={204: {"description": "Accepted methods and body type."}},
)
def whip_options(key: str) -> Response:
    """Answers preflight-style queries: the endpoint takes POST with an ``application/sdp`` body."""
    return Response(status_code=204, headers={"Allow": "OPTIONS, POST", "Accept-Post": SDP})


def _bearer(request: Request) -> str:
    """The stream key sent as ``Authorization: Bearer <key>``."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Send the stream key as 'Authorization: Bearer <key>'.")
    return token.strip()


async def _publish(request: Request, key: str) -> WhipResource:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != SDP:
        raise UnsupportedMediaTypeError(
            f"A WHIP offer must be sent as {SDP}.", content_type=media_type or None, expected=SDP
        )
    return await _hub(request).publish(key, await _read_offer(request))


def _answer(resource: WhipResource, location: str) -> Response:
    headers = {"Location": location, "ETag": resource.etag,
               "Access-Control-Expose-Headers": "Location, ETag, Link"}
    if resource.stream_id is not None:
        headers["Link"] = f'</v1/streams/{resource.stream_id}/scores>; rel="{SCORES_REL}"'
    return Response(content=resource.answer_sdp, status_code=201, media_type=SDP, headers=headers)


@router.options(
    "",
    summary="WHIP endpoint capabilities (bearer-token publishing)",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={204: {"description": "Accepted methods and body type."}},
)
def whip_options_bearer() -> Response:
    return Response(status_code=204, headers={"Allow": "OPTIONS, POST", "Accept-Post": SDP})


@router.post(
    "",
    summary="Publish a live stream (WHIP offer, stream key as bearer token)",
    status_code=status.HTTP_201_CREATED,
    response_class=Response,
    openapi_extra=OFFER_BODY,
    responses={201: ANSWER, **_errors(401, 413, 415, 422, 503)},
)
async def whip_publish_bearer(request: Request) -> Response:
    """The WHIP endpoint of RFC 9725: ``Authorization: Bearer <stream key>``, the SDP offer as the body. The
    session's URL (``Location``) holds no key; DELETE it with the same bearer token."""
    resource = await _publish(request, _bearer(request))
    return _answer(resource, f"/v1/whip/sessions/{resource.id}")


@router.delete(
    "/sessions/{resource_id}",
    summary="Stop publishing (session published with a bearer token)",
    status_code=status.HTTP_200_OK,
    response_class=Response,
    responses={200: {"description": "The session ended."}, **_errors(401, 404)},
)
async def whip_delete_bearer(resource_id: str, request: Request) -> Response:
    await _hub(request).delete(resource_id, key=_bearer(request))
    return Response(status_code=200)


@router.post(
    "/{key}",
    summary="Publish a live stream (WHIP offer)",
    status_code=status.HTTP_201_CREATED,
    response_class=Response,
    openapi_extra=OFFER_BODY,
    responses={201: ANSWER, **_errors(401, 403, 413, 415, 422, 503)},
)
async def whip_publish(key: str, request: Request, _caller: StreamsPublisher) -> Response:
    """Send an SDP offer for a stream key; the answer starts a WebRTC session whose frames are scored live.

    With API keys on, this route also needs an ``X-API-Key`` with the publisher or admin role. The bearer
    route (``POST /v1/whip``, what the browser SDK uses) is authorised by the stream key alone, as RTMP is."""
    resource = await _publish(request, key)
    return _answer(resource, f"/v1/whip/{quote(key, safe='')}/{resource.id}")


@router.delete(
    "/{key}/{resource_id}",
    summary="Stop publishing",
    status_code=status.HTTP_200_OK,
    response_class=Response,
    responses={200: {"description": "The session ended."}, **_errors(401, 403, 404, 503)},
)
async def whip_delete(key: str, resource_id: str, request: Request, _caller: StreamsPublisher) -> Response:
    """End a WHIP session: the live stream closes as ``ended``."""
    await _hub(request).delete(resource_id, key=key)
    return Response(status_code=200)
