"""Shared dependencies as ``Annotated`` aliases: services, a DB session, the caller (API key) and its rights.

Roles and what they may do (``PERMISSIONS``): every route declares one permission through ``Allowed``; the
WebSocket and WHIP routes check theirs with ``authorise``. With keys off (development), the anonymous caller
has every right except the admin-only ones (key management, the full system report).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session

from framesentry.api.services import Services
from framesentry.errors import AuthError, ForbiddenError
from framesentry.store import users

api_key_scheme = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="Required when the server has API keys on (FRAMESENTRY_API_KEYS, or production); ignored otherwise.",
)

PERMISSIONS: dict[str, frozenset[str]] = {
    "analyses:read": frozenset({"admin", "analyst", "viewer"}),
    "analyses:write": frozenset({"admin", "analyst"}),
    "streams:read": frozenset({"admin", "analyst", "viewer"}),  # a publishing device does not read the scores
    "streams:publish": frozenset({"admin", "publisher"}),
    "keys:admin": frozenset({"admin"}),
}
ANONYMOUS_ROLE = "anonymous"
"""The caller when keys are off: every permission but ``keys:admin`` (and the full system report)."""


DB_INT_MAX = 2**63 - 1
"""Largest integer a database id or offset can be (SQLite INTEGER, PostgreSQL BIGINT): larger ones are refused
with 422 instead of overflowing the driver (found by schemathesis)."""


@dataclass(frozen=True)
class Owner:
    id: int
    name: str
    role: str = ANONYMOUS_ROLE
    key_id: str | None = None

    def may(self, permission: str) -> bool:
        if self.role == ANONYMOUS_ROLE:
            return permission != "keys:admin"
        return self.role in PERMISSIONS[permission]

    def rate_key(self, client: str | None) -> str:
        """Whose counter a request counts against: the key, or the address when keys are off."""
        return f"key:{self.key_id}" if self.key_id else f"addr:{client or 'unknown'}"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_session(services: ServicesDep) -> Iterator[Session]:
    services.ensure_ready()
    with services.db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def identify(services: Services, api_key: str | None, client: str | None = None) -> Owner:
    """The caller: the key's user and role when keys are on, the anonymous user otherwise. Opens its own short
    session, so a long upload does not hold a database connection."""
    if not services.auth_enabled:
        return Owner(id=services.anonymous_id(), name=users.ANONYMOUS)
    services.guard_failures(client)
    if not api_key:
        raise AuthError("This server requires an API key: send it in the X-API-Key header.")
    services.ensure_ready()
    with services.db.session() as session:
        row = users.key_for(session, api_key)
        if row is None:
            services.record_failure(client)
            raise AuthError("Unknown, revoked or expired API key.")
        return Owner(id=row.user.id, name=row.user.name, role=row.role, key_id=row.public_id)


def authorise(services: Services, api_key: str | None, permission: str, client: str | None = None) -> Owner:
    """``identify``, then refuse (403) a caller whose role lacks ``permission``."""
    owner = identify(services, api_key, client)
    if not owner.may(permission):
        raise ForbiddenError(f"A key with the role '{owner.role}' may not do this.", role=owner.role,
                             needs=sorted(PERMISSIONS[permission]))
    services.check_rate(owner.rate_key(client))
    return owner


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def current_owner(request: Request, services: ServicesDep,
                  api_key: Annotated[str | None, Security(api_key_scheme)]) -> Owner:
    """The caller, whatever its role (routes declare what they need with the aliases below)."""
    return identify(services, api_key, client_address(request))


OwnerDep = Annotated[Owner, Depends(current_owner)]


class Allowed:
    """Route dependency: the caller, refused with 403 unless its role has ``permission`` (before any body)."""

    def __init__(self, permission: str) -> None:
        if permission not in PERMISSIONS:
            raise ValueError(f"unknown permission {permission}")
        self.permission = permission

    def __call__(self, request: Request, services: ServicesDep,
                 api_key: Annotated[str | None, Security(api_key_scheme)]) -> Owner:
        return authorise(services, api_key, self.permission, client_address(request))


AnalysesReader = Annotated[Owner, Depends(Allowed("analyses:read"))]
AnalysesWriter = Annotated[Owner, Depends(Allowed("analyses:write"))]
StreamsReader = Annotated[Owner, Depends(Allowed("streams:read"))]
StreamsPublisher = Annotated[Owner, Depends(Allowed("streams:publish"))]
KeysAdmin = Annotated[Owner, Depends(Allowed("keys:admin"))]
