"""Users and API keys. Keys are stored as SHA-256 digests only; configured keys are synced at start-up."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from framesentry.store.models import ApiKey, User, utcnow

ANONYMOUS = "anonymous"
"""Owner of every upload when API keys are off (embedded / development mode)."""
DEFAULT_USER = "default"
"""Owner of a configured key given without a ``name:`` prefix."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_key_spec(spec: str) -> tuple[str, str]:
    """``"alice:s3cret"`` -> ("alice", "s3cret"); a bare key belongs to the default user."""
    name, sep, key = spec.partition(":")
    if not sep:
        return DEFAULT_USER, spec
    if not name or not key:
        raise ValueError("API key entries look like 'name:key' or 'key'")
    return name, key


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


def add_api_key(session: Session, user: User, key: str) -> ApiKey:
    """Register ``key`` for ``user`` (idempotent: an existing digest is kept, un-revoked)."""
    digest = hash_key(key)
    row = session.scalars(select(ApiKey).where(ApiKey.key_sha256 == digest)).first()
    if row is None:
        try:
            with session.begin_nested():
                row = ApiKey(user_id=user.id, key_sha256=digest, prefix=key[:6])
                session.add(row)
        except IntegrityError:
            row = session.scalars(select(ApiKey).where(ApiKey.key_sha256 == digest)).one()
    row.revoked_at = None
    return row


def sync_configured_keys(session: Session, specs: list[str]) -> None:
    """Make every configured ``name:key`` usable; keys created another way are left alone."""
    for spec in specs:
        name, key = parse_key_spec(spec)
        add_api_key(session, ensure_user(session, name), key)


def user_for_key(session: Session, key: str) -> User | None:
    """The owner of a live (not revoked) key, or None."""
    row = session.scalars(
        select(ApiKey).where(ApiKey.key_sha256 == hash_key(key), ApiKey.revoked_at.is_(None))
    ).first()
    return row.user if row is not None else None


def revoke_key(session: Session, key: str) -> bool:
    row = session.scalars(select(ApiKey).where(ApiKey.key_sha256 == hash_key(key))).first()
    if row is None:
        return False
    row.revoked_at = utcnow()
    return True


def new_key() -> str:
    """A random key for people to hand out (``framesentry`` never logs it)."""
    return "fs_" + secrets.token_urlsafe(32)
