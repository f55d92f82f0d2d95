"""``framesentry watch``: follow a live stream's scores from the terminal (a WebSocket client)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer


def watch(
    stream_id: Annotated[str, typer.Argument(help="Stream session id (GET /v1/streams?state=live lists them).")],
    url: Annotated[str, typer.Option(help="Server base URL.")] = "http://127.0.0.1:8000",
    api_key: Annotated[str | None, typer.Option(help="X-API-Key, when the server requires one.")] = None,
    raw: Annotated[bool, typer.Option("--json", help="Print each message as JSON, one per line.")] = False,
) -> None:
    """Print one line per score message until the stream ends (Ctrl-C to stop watching)."""
    from websockets.sync.client import connect

    from framesentry.errors import NotFoundError

    ws_url = url.rstrip("/").replace("http://", "ws://").replace("https://", "wss://")
    headers = {"X-API-Key": api_key} if api_key else None
    with connect(f"{ws_url}/v1/streams/{stream_id}/scores", additional_headers=headers, open_timeout=10) as ws:
        for raw_message in ws:
            message = json.loads(raw_message)
            if raw:
                typer.echo(json.dumps(message))
            if message["type"] == "error":
                raise NotFoundError(message["error"]["message"])
            if message["type"] == "end":
                typer.echo(f"stream ended ({message.get('reason')})", err=True)
                return
            if not raw:
                typer.echo(_line(message))


def _line(m: dict[str, Any]) -> str:
    def p(value: float | None) -> str:
        return "  -  " if value is None else f"{value:.3f}"

    events = " ".join(f"[{e['from']} -> {e['to']}]" for e in m["events"] if e.get("type") == "verdict_changed")
    return (f"#{m['seq']:<5} t={m['stream_t_s']:7.2f}s {m['kind']:<6} visual {p(m['visual']['p_fake'])} "
            f"audio {p(m['audio']['p_fake'])} p_fake {p(m['p_fake'])} {m['verdict'].upper():<9} "
            f"{m['latency_ms']:6.0f} ms {events}")
