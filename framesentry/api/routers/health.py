"""``/v1/health`` (liveness: the process answers, and what it can reach) and ``/v1/ready`` (readiness: 503
unless the database and the broker both answer, so a load balancer stops sending uploads that would fail)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from framesentry.api.deps import ServicesDep
from framesentry.api.errors import error_responses
from framesentry.api.schemas import Health
from framesentry.errors import ServiceUnavailableError

router = APIRouter(tags=["health"])


def _version() -> str:
    try:
        return version("framesentry")
    except PackageNotFoundError:
        return "unknown"


async def _report(services: ServicesDep) -> Health:
    checks = await run_in_threadpool(services.checks)
    return Health(
        status="ok" if "unreachable" not in checks.values() else "degraded",
        mode="embedded" if services.settings.embedded else "distributed",
        auth=services.auth_enabled,
        checks=checks,
        version=_version(),
    )


@router.get("/health", response_model=Health, summary="Liveness, mode and dependencies")
async def health(services: ServicesDep) -> Health:
    """200 while the process serves; ``status`` is ``degraded`` and ``checks`` names what cannot be reached."""
    return await _report(services)


@router.get("/ready", response_model=Health, summary="Readiness", responses=error_responses(503))
async def ready(services: ServicesDep) -> Health:
    """200 when the database and the broker answer (and start-up finished); 503 with the checks otherwise."""
    report = await _report(services)
    if report.status == "ok":
        try:
            await run_in_threadpool(services.ensure_ready)
        except ServiceUnavailableError:
            report.checks["database"] = "unreachable"
            report.status = "degraded"
    if report.status != "ok":
        down = ", ".join(name for name, state in report.checks.items() if state == "unreachable")
        raise ServiceUnavailableError(f"Not ready: {down} unreachable.", **report.checks)
    return report
