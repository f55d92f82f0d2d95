"""``framesentry keys``: create (the key is printed once), list and revoke API keys in the service database."""

from __future__ import annotations

from typing import Annotated

import typer

keys_app = typer.Typer(help="API keys: create, list, revoke (roles: admin, analyst, publisher, viewer).",
                       no_args_is_help=True)


def _db():  # type: ignore[no-untyped-def]
    from framesentry.cli.service_settings import load_settings
    from framesentry.store.db import Database
    from framesentry.store.migrate import upgrade

    database = Database(load_settings().database_url)
    upgrade(database.engine)
    return database


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The user the key acts for (created if new).")],
    role: Annotated[str, typer.Option(help="admin, analyst, publisher or viewer.")] = "analyst",
    expires_in_days: Annotated[float | None, typer.Option(help="Lifetime in days; default: no expiry.")] = None,
) -> None:
    """Make a key; its id and role go to stderr, the key itself (shown this once) is the last line on stdout."""
    from datetime import timedelta

    from framesentry.store import users
    from framesentry.store.models import utcnow

    if role not in users.ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(users.ROLES)}", param_hint="--role")
    expires = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    database = _db()
    with database.transaction() as session:
        row, key = users.create_key(session, name, role, expires_at=expires)
        typer.echo(f"created key {row.public_id} for {name} (role {role}"
                   f"{', expires ' + expires.isoformat() if expires else ''}); it is shown only now:", err=True)
    database.engine.dispose()
    typer.echo(key)


@keys_app.command("list")
def list_keys(include_revoked: Annotated[bool, typer.Option(help="Also list revoked keys.")] = False) -> None:
    """One line per key: id, user, role, source, expiry, revocation (never the key)."""
    from framesentry.store import users

    database = _db()
    with database.session() as session:
        for row in users.list_keys(session, include_revoked=include_revoked):
            typer.echo(f"{row.public_id}\t{row.name or row.user.name}\t{row.role}\t{row.source}\t"
                       f"expires={row.expires_at.isoformat() if row.expires_at else '-'}\t"
                       f"revoked={row.revoked_at.isoformat() if row.revoked_at else '-'}")
    database.engine.dispose()


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key's public id (from `keys list`).")]) -> None:
    """Revoke a key at once (the API checks every request against the database)."""
    from framesentry.errors import NotFoundError
    from framesentry.store import users

    database = _db()
    with database.transaction() as session:
        if not users.revoke_public_id(session, key_id):
            raise NotFoundError(f"No API key with id '{key_id}'.")
    database.engine.dispose()
    typer.echo(f"revoked {key_id}", err=True)
