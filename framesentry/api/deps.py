"""Shared dependencies as ``Annotated`` aliases: services, a DB session, the caller (API key)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session

from framesentry.api.services import Services
from framesentry.errors import AuthError
from framesentry.store import users

api_key_scheme = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="Required when the server has FRAMESENTRY_API_KEYS configured; ignored otherwise.",
)


DB_INT_MAX = 2**63 - 1
"""Largest integer a database id or offset can be (SQLite INTEGER, PostgreSQL BIGINT): larger ones are refused
with 422 instead of overflowing the driver (found by schemathesis)."""


@dataclass(frozen=True)
class Owner:
    id: int
    name: str


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_session(services: ServicesDep) -> Iterator[Session]:
    with services.db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def current_owner(services: ServicesDep, api_key: Annotated[str | None, Security(api_key_scheme)]) -> Owner:
    """The caller: the key's user when keys are on, the anonymous user otherwise. Opens its own short session,
    so a long upload does not hold a database connection."""
    if not services.auth_enabled:
        return Owner(id=services.anonymous_id(), name=users.ANONYMOUS)
    if not api_key:
        raise AuthError("This server requires an API key: send it in the X-API-Key header.")
    with services.db.session() as session:
        user = users.user_for_key(session, api_key)
        if user is None:
            raise AuthError("Unknown or revoked API key.")
        return Owner(id=user.id, name=user.name)


OwnerDep = Annotated[Owner, Depends(current_owner)]
