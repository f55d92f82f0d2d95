"""``/v1/analyses``: upload a file for analysis, follow it, list, delete."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from framesentry.api.deps import DB_INT_MAX, AnalysesReader, AnalysesWriter, Owner, ServicesDep, SessionDep
from framesentry.api.errors import error_responses
from framesentry.api.schemas import (
    AnalysisDetail,
    AnalysisPage,
    AnalysisSummary,
    PageLinks,
    Status,
    WebhookAttempts,
    to_attempt,
    to_detail,
    to_summary,
)
from framesentry.api.submit import submit
from framesentry.errors import NotFoundError
from framesentry.inference.result import Verdict
from framesentry.store import analyses as repo
from framesentry.store import explanations as xrepo
from framesentry.store import webhooks as hooks
from framesentry.store.models import Analysis

router = APIRouter(prefix="/analyses", tags=["analyses"])

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "The video or audio file. Streamed to disk; the size cap applies "
                            "while it arrives.",
                        },
                        "callback_url": {
                            "type": "string",
                            "format": "uri",
                            "maxLength": 2048,
                            "description": "http(s) URL that receives an HMAC-signed POST when the analysis "
                            "finishes or fails (header X-FrameSentry-Signature: t=<unix>,v1=<hex>).",
                        },
                    },
                }
            }
        },
    }
}


def load_owned(session: SessionDep, owner: Owner, analysis_id: str) -> Analysis:
    """The caller's analysis, or a 404 (also for ids that are not UUIDs)."""
    try:
        key = uuid.UUID(analysis_id)
    except ValueError:
        key = None
    row = repo.get(session, key, owner_id=owner.id) if key is not None else None
    if row is None:
        raise NotFoundError(f"No analysis with id '{analysis_id}'.", analysis_id=analysis_id)
    return row


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AnalysisSummary,
    summary="Upload a file and queue its analysis",
    openapi_extra=UPLOAD_BODY,
    responses={
        **error_responses(401, 403, 429, 409, 413, 415, 422, 503),
        202: {
            "description": "Accepted and queued (or, with a repeated Idempotency-Key, the earlier job).",
            "headers": {
                "Location": {"description": "URL of the analysis.", "schema": {"type": "string"}},
                "Idempotent-Replayed": {
                    "description": "'true' when this answers a repeated Idempotency-Key.",
                    "schema": {"type": "string"},
                },
            },
        },
    },
)
async def create_analysis(
    request: Request,
    services: ServicesDep,
    owner: AnalysesWriter,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", min_length=1, max_length=255,
               description="Repeat a request safely: the same key and file give the same analysis."),
    ] = None,
) -> JSONResponse:
    """Stream a media file to the server, check it (sniffed, probed), and queue a detection job.

    Returns 202 with the analysis id and links; follow ``links.self`` for status, progress and the result.
    """
    services.check_upload_quota(owner.rate_key(request.client.host if request.client else None))
    length = request.headers.get("content-length")
    done = await submit(
        services,
        owner,
        content_type=request.headers.get("content-type", ""),
        content_length=int(length) if length and length.isdigit() else None,
        body=request.stream(),
        idempotency_key=idempotency_key,
    )
    # A new job answers with its state as accepted (queued): the embedded worker may already be running it.
    # A replayed key answers with the earlier job as it is now.
    body = done.accepted
    if body is None:
        body = await run_in_threadpool(_summary_of, services, done.analysis.id)
    headers = {"Location": body.links.self_}
    if done.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(body.model_dump(mode="json", by_alias=True), status_code=202, headers=headers)


def _summary_of(services: ServicesDep, analysis_id: uuid.UUID) -> AnalysisSummary:
    with services.db.session() as session:
        row = repo.get(session, analysis_id)
        if row is None:  # deleted in the meantime
            raise NotFoundError(f"No analysis with id '{analysis_id}'.")
        return to_summary(row)


@router.get("", response_model=AnalysisPage, summary="List analyses", responses=error_responses(401, 403, 429, 422))
def list_analyses(
    request: Request,
    session: SessionDep,
    owner: AnalysesReader,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    verdict: Verdict | None = None,
    sha256: Annotated[str | None, Query(pattern="^[0-9a-f]{64}$", description="Uploads with this hash.")] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=DB_INT_MAX)] = 0,
) -> AnalysisPage:
    """The caller's analyses, newest first, with filters and limit/offset pagination."""
    page = repo.list_page(
        session, owner_id=owner.id, status=status_, verdict=verdict.value if verdict else None, sha256=sha256,
        created_after=created_after, created_before=created_before, limit=limit, offset=offset,
    )

    def link(at: int) -> str:
        params = {k: v for k, v in request.query_params.items() if k not in ("offset", "limit")}
        return f"/v1/analyses?{urlencode({**params, 'limit': limit, 'offset': at})}"

    return AnalysisPage(
        items=[to_summary(row) for row in page.items],
        total=page.total,
        limit=limit,
        offset=offset,
        links=PageLinks(
            self_=link(offset),
            next=link(offset + limit) if offset + limit < page.total else None,
            prev=link(max(0, offset - limit)) if offset > 0 else None,
        ),
    )


@router.get(
    "/{analysis_id}", response_model=AnalysisDetail, summary="Status, progress and result",
    responses=error_responses(401, 403, 429, 404),
)
def get_analysis(analysis_id: str, session: SessionDep, owner: AnalysesReader) -> AnalysisDetail:
    """``queued`` / ``running`` (with ``stage`` and ``progress_pct``) / ``done`` (with ``result``) /
    ``failed`` (with ``error``)."""
    row = load_owned(session, owner, analysis_id)
    deep = xrepo.deep_pass_of(session, row.id)
    return to_detail(row, deep.data if deep is not None else None)


@router.delete(
    "/{analysis_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete an analysis and its media",
    responses=error_responses(401, 403, 429, 404), response_class=Response,
)
def delete_analysis(analysis_id: str, session: SessionDep, owner: AnalysesWriter, services: ServicesDep) -> Response:
    """Removes the result, its rows and the uploaded file. A running job stops at its next progress step."""
    row = load_owned(session, owner, analysis_id)
    artifact_keys = xrepo.storage_keys_of(session, row.id)  # explanation rows go by cascade, their bytes here
    storage_key = repo.delete_analysis(session, row)
    session.commit()
    for key in [*artifact_keys, *([storage_key] if storage_key else [])]:
        services.storage.delete(key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{analysis_id}/webhooks", response_model=WebhookAttempts, summary="Webhook delivery attempts",
    responses=error_responses(401, 403, 429, 404),
)
def list_webhook_attempts(analysis_id: str, session: SessionDep, owner: AnalysesReader) -> WebhookAttempts:
    """Every attempt to POST this analysis's events to its callback URL, oldest first."""
    row = load_owned(session, owner, analysis_id)
    return WebhookAttempts(items=[to_attempt(a) for a in hooks.attempts_for(session, row.id)])
