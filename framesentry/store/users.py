"""Users and API keys. Only a key's SHA-256 digest is stored, with a non-secret public id; configured keys are
reconciled at start-up (added, role updated, removed ones revoked); other keys are made by the API or the CLI.

A key made here looks like ``fs_<public id>_<secret>``: the public id names it in listings and revocations
without revealing anything of the secret. Keys from FRAMESENTRY_API_KEYS are whatever the operator chose; their
public id is derived from the digest.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from framesentry.store.models import ApiKey, User, utcnow

ANONYMOUS = "anonymous"
"""Owner of every upload when API keys are off (embedded / development mode)."""
DEFAULT_USER = "default"
"""Owner of a configured key given without a ``name:`` prefix."""
ROLES = ("admin", "analyst", "publisher", "viewer")
CONFIGURED_ROLE = "admin"
"""Role of a configured key given without ``@role`` (configured keys had every right before roles existed)."""
CONFIG, API = "config", "api"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class KeySpec:
    user: str
    role: str
    key: str


def parse_key_spec(spec: str) -> KeySpec:
    """``"alice@analyst:s3cret"`` / ``"alice:s3cret"`` (role admin) / ``"s3cret"`` (default user, admin)."""
    who, sep, key = spec.partition(":")
    if not sep:
        return KeySpec(DEFAULT_USER, CONFIGURED_ROLE, spec)
    name, _, role = who.partition("@")
    role = role or CONFIGURED_ROLE
    if not name or not key:
        raise ValueError("API key entries look like 'name@role:key', 'name:key' or 'key'")
    if role not in ROLES:
        raise ValueError(f"unknown role '{role}' in FRAMESENTRY_API_KEYS; roles: {', '.join(ROLES)}")
    return KeySpec(name, role, key)


def ensure_user(session: Session, name: str) -> User:
    """Get or create a user by name; safe when two processes race to create it."""
    user = session.scalars(select(User).where(User.name == name)).first()
    if user is not None:
        return user
    try:
        with session.begin_nested():
            user = User(name=name)
            session.add(user)
    except IntegrityError:
        user = session.scalars(select(User).where(User.name == name)).one()
    return user


def add_api_key(session: Session, user: User, key: str, *, role: str = CONFIGURED_ROLE, source: str = CONFIG,
                public_id: str | None = None, name: str = "", expires_at: datetime | None = None) -> ApiKey:
    """Register ``key`` for ``user`` (idempotent: an existing digest is kept, un-revoked, role updated)."""
    digest = hash_key(key)
    row = session.scalars(select(ApiKey).where(ApiKey.key_sha256 == digest)).first()
    if row is None:
        try:
            with session.begin_nested():
                row = ApiKey(user_id=user.id, key_sha256=digest, public_id=public_id or digest[:12], name=name,
                             role=role, source=source, expires_at=expires_at)
                session.add(row)
        except IntegrityError:
            row = session.scalars(select(ApiKey).where(ApiKey.key_sha256 == digest)).one()
    row.revoked_at = None
    row.role = role
    return row


def sync_configured_keys(session: Session, specs: list[str]) -> list[str]:
    """Make every configured key usable with its role, and revoke configured keys no longer in the setting
    (keys made by the API or CLI are left alone). Returns the public ids revoked."""
    wanted = set()
    for spec in specs:
        parsed = parse_key_spec(spec)
        row = add_api_key(session, ensure_user(session, parsed.user), parsed.key, role=parsed.role, source=CONFIG,
                          name=parsed.user)
        wanted.add(row.id)
    revoked = []
    for row in session.scalars(select(ApiKey).where(ApiKey.source == CONFIG, ApiKey.revoked_at.is_(None))):
        if row.id not in wanted:
            row.revoked_at = utcnow()
            revoked.append(row.public_id)
    return revoked


def key_for(session: Session, key: str) -> ApiKey | None:
    """The live key row (not revoked, not expired) for a presented key, or None."""
    row = session.scalars(
        select(ApiKey).where(ApiKey.key_sha256 == hash_key(key), ApiKey.revoked_at.is_(None))
    ).first()
    if row is None or (row.expires_at is not None and row.expires_at <= utcnow()):
        return None
    return row


def user_for_key(session: Session, key: str) -> User | None:
    """The owner of a live key, or None."""
    row = key_for(session, key)
    return row.user if row is not None else None


def revoke_key(session: Session, key: str) -> bool:
    row = session.scalars(select(ApiKey).where(ApiKey.key_sha256 == hash_key(key))).first()
    if row is None:
        return False
    row.revoked_at = utcnow()
    return True


def new_key() -> tuple[str, str]:
    """A random key and its public id: ``fs_<public id>_<secret>`` (``framesentry`` never logs it)."""
    public_id = secrets.token_hex(6)
    return public_id, f"fs_{public_id}_{secrets.token_urlsafe(32)}"


def create_key(session: Session, user_name: str, role: str, *,
               expires_at: datetime | None = None) -> tuple[ApiKey, str]:
    """A new managed key for ``user_name``; the plaintext is returned once and never stored."""
    if role not in ROLES:
        raise ValueError(f"unknown role '{role}'; roles: {', '.join(ROLES)}")
    public_id, key = new_key()
    row = add_api_key(session, ensure_user(session, user_name), key, role=role, source=API, public_id=public_id,
                      name=user_name, expires_at=expires_at)
    session.flush()
    return row, key


def list_keys(session: Session, *, include_revoked: bool = False) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(query))


def revoke_public_id(session: Session, public_id: str) -> bool:
    row = session.scalars(select(ApiKey).where(ApiKey.public_id == public_id)).first()
    if row is None:
        return False
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return True
