"""The FastAPI application factory. Building the app touches no service; the lifespan connects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool

from framesentry.api import errors, metrics
from framesentry.api.routers import (
    analyses,
    console,
    explanations,
    health,
    keys,
    stream_scores,
    streams,
    system,
    whip,
)
from framesentry.api.services import Services
from framesentry.config import Settings, get_settings
from framesentry.jobs.context import Analyzer, Explainer

DESCRIPTION = """Upload a video or audio file; FrameSentry tells you whether its faces and voices are real:
a verdict **real / fake / uncertain**, a calibrated probability, per-face and per-segment scores.

Every error has one shape: `{"error": {"code", "message", "details"}}`."""


def create_app(
    settings: Settings | None = None,
    *,
    run_worker: bool | None = None,
    analyzer: Analyzer | None = None,
    explainer: Explainer | None = None,
    migrate: bool = True,
) -> FastAPI:
    """The API. ``run_worker`` defaults to embedded mode (no broker configured); ``analyzer`` and ``explainer``
    replace the detection pipeline and the deep pass (used by tests of the job machinery)."""
    settings = settings or get_settings()
    services = Services(settings, run_worker=run_worker, analyzer=analyzer, explainer=explainer, migrate=migrate)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(services.startup)
        if services.live is not None:
            await services.live.start()
            _app.state.whip = services.live.whip
        try:
            yield
        finally:
            if services.live is not None:
                await services.live.stop()
            await run_in_threadpool(services.shutdown)

    app = FastAPI(
        title="FrameSentry",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "analyses", "description": "Uploaded files and their detection results."},
            {"name": "health", "description": "Service status."},
            {"name": "keys", "description": "API keys and their roles (admin only)."},
            {"name": "system", "description": "Engine backends chosen per model, and the machine they run on."},
            {"name": "streams", "description": "Live sources: stream keys, sessions, the score series, WHIP ingest. "
             "Scores stream on `WS /v1/streams/{stream_id}/scores` (messages: `ScoreMessage` schema; "
             "`X-API-Key` header, or from a browser the subprotocols `framesentry.v1` and "
             "`framesentry.auth.<base64url credential>`; an API key or the stream's own stream key)."},
        ],
    )
    app.state.services = services
    errors.install(app)
    _browser_policy(app, settings)
    metrics.install(app, services)  # request timing + ids, GET /metrics (docs/SERVICE.md "Operations")
    v1 = APIRouter(prefix="/v1")
    v1.include_router(analyses.router)
    v1.include_router(explanations.router)
    v1.include_router(health.router)
    v1.include_router(keys.router)
    v1.include_router(system.router)
    v1.include_router(streams.router)
    v1.include_router(stream_scores.router)
    v1.include_router(whip.router)
    app.include_router(v1)
    console.install(app)
    _one_error_shape_in_openapi(app)
    return app


def _browser_policy(app: FastAPI, settings: Settings) -> None:
    """Outermost first: security headers on everything, then the Origin check, then CORS for configured origins."""
    from starlette.middleware.cors import CORSMiddleware

    from framesentry.api.security import OriginGuard, SecurityHeaders

    app.add_middleware(
        CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "X-API-Key", "Idempotency-Key", "Content-Type"],
        expose_headers=["Location", "ETag", "Link", "Retry-After", "Idempotent-Replayed", "RateLimit-Remaining"],
        max_age=600,
    )
    app.add_middleware(OriginGuard, allowed=settings.cors_origins)
    app.add_middleware(SecurityHeaders)


def _one_error_shape_in_openapi(app: FastAPI) -> None:
    """FastAPI documents validation errors as ``HTTPValidationError``; ours answer with ``ErrorResponse``."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes,
            tags=app.openapi_tags,
        )
        ref = {"$ref": "#/components/schemas/ErrorResponse"}
        for operation in (op for path in spec["paths"].values() for op in path.values()):
            invalid = operation.get("responses", {}).get("422")
            if invalid is not None:
                invalid["content"] = {"application/json": {"schema": ref}}
                if invalid.get("description") == "Validation Error":
                    invalid["description"] = errors.DESCRIPTIONS[422]
        for name in ("HTTPValidationError", "ValidationError"):
            spec.get("components", {}).get("schemas", {}).pop(name, None)
        # WebSockets are not OpenAPI operations: publish the message schema so clients can still generate it.
        from pydantic.json_schema import models_json_schema

        from framesentry.stream.messages import EndMessage, ScoreMessage

        _, defs = models_json_schema([(ScoreMessage, "serialization"), (EndMessage, "serialization")],
                                     ref_template="#/components/schemas/{model}")
        spec.setdefault("components", {}).setdefault("schemas", {}).update(defs["$defs"])
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
