"""Explanations over the API: the deep pass's JSON, its image/data artifacts, the PDF report; live artifacts."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from framesentry.api.deps import AnalysesReader, ServicesDep, SessionDep, StreamsReader
from framesentry.api.errors import error_responses
from framesentry.api.routers.analyses import load_owned
from framesentry.api.routers.streams import _stream
from framesentry.api.schemas import DeepPassState, deep_pass_state
from framesentry.errors import NotFoundError, NotReadyError
from framesentry.explain.schema import Explanation
from framesentry.store import explanations as xrepo
from framesentry.store.models import Explanation as ExplanationRow

router = APIRouter(tags=["explanations"])


class ArtifactLink(BaseModel):
    name: str
    media_type: str | None
    description: str | None
    url: str


class ExplanationResponse(BaseModel):
    """The deep pass's state and, once done, the explanation and links to its artifacts."""

    deep_pass: DeepPassState | None = Field(description="Null when no deep pass was queued for this analysis.")
    explanation: Explanation | None = None
    artifacts: list[ArtifactLink] = []


def _link(base: str, row: ExplanationRow) -> ArtifactLink:
    data: dict[str, Any] = row.data or {}
    return ArtifactLink(name=row.name or "", media_type=row.media_type, description=data.get("description"),
                        url=f"{base}/artifacts/{row.name}")


@router.get("/analyses/{analysis_id}/explanation", response_model=ExplanationResponse,
            summary="Explanation (heat maps, audio saliency, timeline, summary)",
            responses=error_responses(401, 403, 429, 404))
def get_explanation(analysis_id: str, session: SessionDep, owner: AnalysesReader) -> ExplanationResponse:
    """The deep pass's progress while it runs; the explanation JSON and artifact URLs when it is done."""
    row = load_owned(session, owner, analysis_id)
    deep = xrepo.deep_pass_of(session, row.id)
    data = deep.data if deep is not None else None
    doc = (data or {}).get("explanation")
    base = f"/v1/analyses/{row.id}"
    return ExplanationResponse(
        deep_pass=deep_pass_state(row.id, data),
        explanation=Explanation.model_validate(doc) if doc else None,
        artifacts=[_link(base, a) for a in xrepo.artifacts_of(session, row.id)],
    )


def _serve(services: ServicesDep, art: ExplanationRow | None, what: str) -> Response:
    if art is None or not art.storage_key:
        raise NotFoundError(f"No artifact '{what}'.", name=what)
    with services.storage.local_path(art.storage_key) as path:
        return FileResponse(path, media_type=art.media_type or "application/octet-stream", filename=art.name)


@router.get("/analyses/{analysis_id}/artifacts/{name}", summary="One explanation artifact (image, data, report)",
            responses=error_responses(401, 403, 429, 404), response_class=Response)
def get_artifact(analysis_id: str, name: str, session: SessionDep, owner: AnalysesReader,
                 services: ServicesDep) -> Response:
    row = load_owned(session, owner, analysis_id)
    return _serve(services, xrepo.artifact(session, name, analysis_id=row.id), name)


@router.get("/analyses/{analysis_id}/report.pdf", summary="PDF report", response_class=Response,
            responses={**error_responses(401, 403, 429, 404, 409), 200: {"content": {"application/pdf": {}}}})
def get_report(analysis_id: str, session: SessionDep, owner: AnalysesReader, services: ServicesDep) -> Response:
    """The report the deep pass wrote; 409 ``not_ready`` while the deep pass is queued or running."""
    row = load_owned(session, owner, analysis_id)
    art = xrepo.artifact(session, "report.pdf", analysis_id=row.id)
    if art is None:
        deep = xrepo.deep_pass_of(session, row.id)
        state = (deep.data or {}).get("status") if deep is not None else None
        raise NotReadyError("The report is not ready: the deep pass has not finished.", analysis_id=str(row.id),
                            deep_pass=state or "not queued")
    return _serve(services, art, "report.pdf")


@router.get("/streams/{stream_id}/artifacts/{name}", summary="An explanation artifact of a live stream",
            responses=error_responses(401, 403, 429, 404), response_class=Response)
def get_stream_artifact(stream_id: uuid.UUID, name: str, session: SessionDep, owner: StreamsReader,
                        services: ServicesDep) -> Response:
    """Heat maps made when the stream's verdict turned Fake (linked from the verdict-change event)."""
    stream = _stream(session, owner, stream_id)
    return _serve(services, xrepo.artifact(session, name, stream_id=stream.id), name)
