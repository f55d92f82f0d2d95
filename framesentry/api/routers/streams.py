"""``/v1/streams`` and ``/v1/stream-keys``: register live sources, follow sessions, read the score series."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from framesentry.api.deps import DB_INT_MAX, Owner, ServicesDep, SessionDep, StreamsPublisher, StreamsReader
from framesentry.api.errors import error_responses
from framesentry.api.stream_schemas import (
    IngestUrls,
    SeriesResponse,
    StreamCreate,
    StreamInfo,
    StreamKeyCreated,
    StreamKeyList,
    StreamPage,
    to_bucket,
    to_key_info,
    to_stream_info,
)
from framesentry.errors import NotFoundError, RequestError
from framesentry.store import explanations as xrepo
from framesentry.store import series as series_repo
from framesentry.store import streams as repo
from framesentry.store.models import Stream

router = APIRouter(tags=["streams"])
ENDED_GRACE = timedelta(minutes=1)


def ingest_urls(request: Request, services: ServicesDep, key: str) -> IngestUrls:
    """Where to publish, as seen from the client that asked (host of this request, RTMP port from settings)."""
    s = services.settings
    host = request.url.hostname or s.host
    rtmp = services.live.rtmp if services.live is not None else None
    port = rtmp.port if rtmp is not None else s.rtmp_port
    base = str(request.base_url).rstrip("/")
    return IngestUrls(
        rtmp=f"rtmp://{host}:{port}/{s.rtmp_app}/{key}",
        whip=f"{base}/v1/whip/{key}",
        publish_page=f"{base}/v1/whip/publish.html?key={key}",
    )


def _stream(session: SessionDep, owner: Owner, stream_id: uuid.UUID) -> Stream:
    row = repo.get_stream(session, stream_id, owner_id=owner.id)
    if row is None:
        raise NotFoundError(f"No stream with id '{stream_id}'.", stream_id=str(stream_id))
    return row


@router.post(
    "/streams", status_code=status.HTTP_201_CREATED, response_model=StreamKeyCreated,
    summary="Register a live source: issue its stream key", responses=error_responses(401, 403, 429, 422),
)
def create_stream(body: StreamCreate, request: Request, session: SessionDep, owner: StreamsPublisher,
                  services: ServicesDep) -> StreamKeyCreated:
    """Returns the secret key (once) and the RTMP and WHIP URLs to publish to. A session starts when a
    publisher connects with the key and appears in ``GET /v1/streams``."""
    created = repo.create_stream_key(session, owner.id, body.name)
    session.commit()
    info = to_key_info(created.row)
    return StreamKeyCreated(**info.model_dump(), key=created.key, ingest=ingest_urls(request, services, created.key))


@router.get("/stream-keys", response_model=StreamKeyList, summary="List stream keys",
            responses=error_responses(401, 403, 429))
def list_keys(session: SessionDep, owner: StreamsPublisher,
              include_revoked: bool = False) -> StreamKeyList:
    return StreamKeyList(items=[to_key_info(k) for k in repo.list_stream_keys(
        session, owner.id, include_revoked=include_revoked)])


@router.delete("/stream-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               summary="Revoke a stream key (ends its live session)",
               responses=error_responses(401, 403, 429, 404, 422))
def revoke_key(key_id: Annotated[int, Path(ge=1, le=DB_INT_MAX)], session: SessionDep, owner: StreamsPublisher,
               services: ServicesDep) -> Response:
    if not repo.revoke_stream_key(session, key_id, owner_id=owner.id):
        raise NotFoundError(f"No stream key with id {key_id}.", key_id=key_id)
    live = repo.live_stream_for_key(session, key_id)
    session.commit()
    if live is not None and services.live is not None:
        services.live.stop_stream(live.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/streams", response_model=StreamPage, summary="List live and past stream sessions",
            responses=error_responses(401, 403, 429, 422))
def list_streams(
    session: SessionDep,
    owner: StreamsReader,
    state: Annotated[str | None, Query(pattern="^(live|ended|failed)$")] = None,
    key_id: Annotated[int | None, Query(ge=1, le=DB_INT_MAX)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=DB_INT_MAX)] = 0,
) -> StreamPage:
    page = repo.list_streams(session, owner_id=owner.id, state=state, key_id=key_id, limit=limit, offset=offset)
    return StreamPage(items=[to_stream_info(r) for r in page.items], total=page.total, limit=limit, offset=offset)


@router.get("/streams/{stream_id}", response_model=StreamInfo, summary="One stream session",
            responses=error_responses(401, 403, 429, 404))
def get_stream(stream_id: uuid.UUID, session: SessionDep, owner: StreamsReader, services: ServicesDep) -> StreamInfo:
    """State, start time, source and the current verdict (live sessions report the in-memory value)."""
    info = to_stream_info(_stream(session, owner, stream_id))
    live = services.live.sessions.get(stream_id) if services.live is not None else None
    if live is not None and live.live:
        totals = live.totals()
        info.verdict, info.p_fake = totals["verdict"], totals["p_fake"]
        info.windows_scored, info.windows_dropped = totals["windows_scored"], totals["windows_dropped"]
    return info


@router.delete("/streams/{stream_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               summary="Stop a live session, or delete a finished one and its series",
               responses=error_responses(401, 403, 429, 404, 409))
def delete_stream(stream_id: uuid.UUID, session: SessionDep, owner: StreamsPublisher,
                  services: ServicesDep) -> Response:
    row = _stream(session, owner, stream_id)
    if row.state == "live":
        stopped = services.live is not None and services.live.stop_stream(stream_id)
        if not stopped:  # live in the database but not on this server: a dead server's leftover
            repo.end_stream(session, stream_id, reason="stopped_by_api")
            session.commit()
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    artifact_keys = xrepo.storage_keys_of_stream(session, stream_id)  # live heat maps: rows cascade, bytes here
    repo.delete_stream(session, stream_id, owner_id=owner.id)
    session.commit()
    for key in artifact_keys:
        services.storage.delete(key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/streams/{stream_id}/series", response_model=SeriesResponse, summary="Score time series",
            responses=error_responses(401, 403, 429, 404, 422))
def get_series(
    stream_id: uuid.UUID,
    session: SessionDep,
    owner: StreamsReader,
    from_: Annotated[datetime | None, Query(alias="from", description="Start (default: stream start).")] = None,
    to: Annotated[datetime | None, Query(description="End, exclusive (default: stream end, or now).")] = None,
    bucket: Annotated[float, Query(gt=0, le=86400, description="Bucket width in seconds.")] = 10.0,
) -> SeriesResponse:
    """Scores aggregated per bucket (avg/max p_fake, modality averages, count, last verdict), answered from a
    TimescaleDB hypertable when the extension is installed, from the partitioned table otherwise."""
    row = _stream(session, owner, stream_id)
    start = _aware(from_) if from_ is not None else row.started_at
    # A finished stream's windows still in flight at its end are stamped up to a few seconds later.
    default_end = datetime.now(UTC) if row.ended_at is None else min(datetime.now(UTC), row.ended_at + ENDED_GRACE)
    end = _aware(to) if to is not None else default_end
    if end <= start:
        raise RequestError("'to' must be after 'from'", start=start.isoformat(), end=end.isoformat())
    buckets = series_repo.query_series(session, stream_id, start, end, bucket)
    return SeriesResponse(stream_id=stream_id, start=start, end=end, bucket_s=bucket,
                          buckets=[to_bucket(b) for b in buckets])


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
