"""``/v1/health``: is the server up, in which mode, does it want API keys."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter
from sqlalchemy import text

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


@router.get("/health", response_model=Health, summary="Liveness and mode", responses=error_responses(503))
def health(services: ServicesDep) -> Health:
    """Answers 200 when the database is reachable."""
    try:
        with services.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise ServiceUnavailableError("The database is unreachable.", reason=type(exc).__name__) from exc
    return Health(
        status="ok",
        mode="embedded" if services.settings.embedded else "distributed",
        auth=services.auth_enabled,
        version=_version(),
    )
