"""``framesentry serve``: the HTTP API; with no broker configured, also the worker and SQLite (embedded)."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (default FRAMESENTRY_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default FRAMESENTRY_PORT, 8000).")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn/worker log level.")] = "info",
) -> None:
    """Run the REST API (embedded worker + SQLite unless FRAMESENTRY_BROKER_URL is set).

    Without FRAMESENTRY_BROKER_URL it is self-contained: an in-process worker and SQLite under the work
    directory. With FRAMESENTRY_BROKER_URL (and FRAMESENTRY_DATABASE_URL) it only serves the API; run
    `framesentry worker` next to it.
    """
    import uvicorn

    from framesentry.api.app import create_app
    from framesentry.api.server import uvicorn_config
    from framesentry.cli.service_settings import load_settings
    from framesentry.obs import logs
    from framesentry.store.db import normalize_url

    settings = load_settings()
    logs.configure(settings.log_format, log_level)
    host = host or settings.host
    port = settings.port if port is None else port
    mode = "embedded (in-process worker, no external service)" if settings.embedded else "distributed (Redis broker)"
    from sqlalchemy import make_url

    db = make_url(normalize_url(settings.database_url)).render_as_string(hide_password=True)
    typer.echo(f"FrameSentry API on http://{host}:{port}/v1  mode: {mode}", err=True)
    typer.echo(f"database: {db}  media: {settings.media_dir}  docs: http://{host}:{port}/docs", err=True)
    if settings.live_enabled:
        typer.echo(f"live: publish to rtmp://{settings.rtmp_host}:{settings.rtmp_port}/{settings.rtmp_app}/<key> or "
                   f"WHIP http://{host}:{port}/v1/whip/<key> (keys: POST /v1/streams)", err=True)
    config = uvicorn_config(create_app(settings), host=host, port=port, log_level=log_level.lower(), access_log=False,
                            log_config=None)  # uvicorn's records go to our handler (plain or JSON)
    uvicorn.Server(config).run()
