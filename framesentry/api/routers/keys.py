"""``/v1/keys``: API keys managed by an admin (create: the key is shown once; list; revoke; expiry)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field

from framesentry.api.deps import KeysAdmin, SessionDep
from framesentry.api.errors import error_responses
from framesentry.errors import NotFoundError
from framesentry.store import users
from framesentry.store.models import ApiKey, utcnow

router = APIRouter(prefix="/keys", tags=["keys"])
Role = Literal["admin", "analyst", "publisher", "viewer"]


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[\w.@+-]+$",
                      description="The user the key acts for (created if new); analyses are scoped to it.")
    role: Role = Field("analyst", description="admin: everything; analyst: uploads and reads; publisher: live "
                       "sources and publishing; viewer: read only.")
    expires_in_s: int | None = Field(None, gt=0, le=10 * 365 * 86400, description="Lifetime; unset = no expiry.")


class KeyInfo(BaseModel):
    id: str = Field(description="Public id (not secret): in listings, revocations, and inside managed keys.")
    name: str
    role: str
    source: Literal["config", "api"] = Field(description="'config': from FRAMESENTRY_API_KEYS; 'api': made here "
                                             "or with `framesentry keys create`.")
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class KeyCreated(KeyInfo):
    key: str = Field(description="The key itself: shown this once, never again (only its digest is kept).")


class KeyList(BaseModel):
    items: list[KeyInfo]


def _info(row: ApiKey) -> dict[str, object]:
    return {"id": row.public_id, "name": row.name or row.user.name, "role": row.role, "source": row.source,
            "created_at": row.created_at, "expires_at": row.expires_at, "revoked_at": row.revoked_at,
            "last_used_at": row.last_used_at}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyCreated, summary="Create an API key",
             responses=error_responses(401, 403, 429, 422))
def create_key(body: KeyCreate, session: SessionDep, _admin: KeysAdmin) -> KeyCreated:
    """A new key for ``name`` with ``role``; the answer is the only time the key is shown."""
    expires = utcnow() + timedelta(seconds=body.expires_in_s) if body.expires_in_s else None
    row, key = users.create_key(session, body.name, body.role, expires_at=expires)
    session.commit()
    return KeyCreated(key=key, **_info(row))


@router.get("", response_model=KeyList, summary="List API keys (never their secrets)",
            responses=error_responses(401, 403, 429, 422))
def list_keys(session: SessionDep, _admin: KeysAdmin,
              include_revoked: bool = Query(False, description="Also list revoked keys.")) -> KeyList:
    rows = users.list_keys(session, include_revoked=include_revoked)
    return KeyList(items=[KeyInfo(**_info(row)) for row in rows])


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               summary="Revoke an API key", responses=error_responses(401, 403, 429, 404))
def revoke_key(key_id: str, session: SessionDep, _admin: KeysAdmin) -> Response:
    if not users.revoke_public_id(session, key_id):
        raise NotFoundError(f"No API key with id '{key_id}'.", key_id=key_id)
    session.commit()
    return Response(status_code=204)
