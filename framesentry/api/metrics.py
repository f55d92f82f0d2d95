"""``GET /metrics`` (Prometheus text format) and the middleware that times every HTTP request.

Request latency is labelled by the route *template* (``/v1/analyses/{analysis_id}``), never the raw path, so
ids do not explode the label set; a request that matched no route is ``unmatched``. Gauges that describe the
service's state (queue depth by status, live streams, GPU memory) are computed at scrape time.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from framesentry.api.services import Services
from framesentry.obs import logs
from framesentry.obs.exposition import render
from framesentry.obs.metrics import metrics, record_gpu_memory
from framesentry.store import analyses as repo
from framesentry.store.models import AnalysisStatus

log = logging.getLogger(__name__)
router = APIRouter()
REQUEST_ID_HEADER = "x-request-id"


class RequestMetrics:
    """Pure ASGI middleware: binds a request id for the logs, echoes it, and times the request by route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        t0 = time.perf_counter()
        with logs.bound(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                route = route_template(scope)
                metrics().request_seconds.labels(scope["method"], route, str(status)).observe(
                    time.perf_counter() - t0
                )


def route_template(scope: Scope) -> str:
    """The matched route's full path template, prefixes included; ``unmatched`` when no route matched.

    FastAPI (0.16x) keeps included routers nested: ``scope["route"]`` is the inner route, whose ``path`` lacks
    the ``/v1`` prefix, and the full template is in the effective route context it records; without that
    context, the raw path with each path parameter's value put back as ``{name}``.
    """
    effective = scope.get("fastapi", {}).get("effective_route_context")
    path = getattr(effective, "path", None)
    if isinstance(path, str):
        return path
    if scope.get("route") is None:
        return "unmatched"
    segments = str(scope.get("path", "")).split("/")
    names = {str(v): k for k, v in scope.get("path_params", {}).items()}
    return "/".join(f"{{{names[s]}}}" if s in names else s for s in segments)


def _request_id(scope: Scope) -> str:
    """The caller's ``X-Request-ID`` when it is a short printable token, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER.encode():
            text = value.decode("latin-1")
            if 0 < len(text) <= 128 and all(c.isalnum() or c in "-_.:" for c in text):
                return text
    return uuid.uuid4().hex


class StateCollector:
    """Scrape-time gauges: analyses by status (the queue depth), live streams by source."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        depth = GaugeMetricFamily(
            "framesentry_queue_depth", "Analyses waiting for a worker (status queued), from the database.",
        )
        jobs = GaugeMetricFamily("framesentry_analyses", "Analyses by status, from the database.", labels=["status"])
        try:
            with self.services.db.session() as session:
                counts = repo.count_by_status(session)
        except Exception as exc:  # an unreachable database must not break the scrape of everything else
            log.warning("metrics: cannot count analyses: %s", exc)
        else:
            depth.add_metric([], counts.get(AnalysisStatus.QUEUED.value, 0))
            for status in AnalysisStatus:
                jobs.add_metric([status.value], counts.get(status.value, 0))
            yield depth
            yield jobs
        hub = self.services.live
        if hub is not None:
            streams = GaugeMetricFamily("framesentry_live_streams", "Live streams being scored.", labels=["source"])
            live: dict[str, int] = {}
            for stream in list(hub.sessions.values()):
                if stream.live:
                    live[stream.source] = live.get(stream.source, 0) + 1
            for source in sorted({"rtmp", "whip", *live}):
                streams.add_metric([source], live.get(source, 0))
            yield streams


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(request: Request) -> Response:
    """Prometheus text exposition of this process; see docs/SERVICE.md ("Operations")."""
    record_gpu_memory()
    collector: StateCollector = request.app.state.metrics_collector
    body, content_type = await run_in_threadpool(render, [collector])
    return Response(body, media_type=content_type)


def install(app: Any, services: Services) -> None:
    """Add the timing middleware and ``/metrics`` when metrics are on (``FRAMESENTRY_METRICS_ENABLED``)."""
    app.add_middleware(RequestMetrics)
    if services.settings.metrics_enabled:
        app.state.metrics_collector = StateCollector(services)
        app.include_router(router)
