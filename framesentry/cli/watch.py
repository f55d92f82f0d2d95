"""``framesentry watch``: follow a live stream's scores from the terminal (through ``framesentry.client``)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from framesentry.client import FrameSentryClient, ScoreMessage


def watch(
    stream_id: Annotated[str, typer.Argument(help="Stream session id (GET /v1/streams?state=live lists them).")],
    url: Annotated[str, typer.Option(help="Server base URL.")] = "http://127.0.0.1:8000",
    api_key: Annotated[str | None, typer.Option(help="X-API-Key, when the server requires one.")] = None,
    raw: Annotated[bool, typer.Option("--json", help="Print each message as JSON, one per line.")] = False,
) -> None:
    """Print one line per score message until the stream ends (Ctrl-C to stop watching)."""
    with FrameSentryClient(url, api_key=api_key) as client:
        for message in client.scores(stream_id):
            typer.echo(json.dumps(message) if raw else _line(message))
        typer.echo(f"stream ended ({client.end_reason})", err=True)


def _line(m: ScoreMessage) -> str:
    def p(value: float | None) -> str:
        return "  -  " if value is None else f"{value:.3f}"

    events = " ".join(f"[{e['from']} -> {e['to']}]" for e in m["events"] if e.get("type") == "verdict_changed")
    return (f"#{m['seq']:<5} t={m['stream_t_s']:7.2f}s {m['kind']:<6} visual {p(m['visual']['p_fake'])} "
            f"audio {p(m['audio']['p_fake'])} p_fake {p(m['p_fake'])} {m['verdict'].upper():<9} "
            f"{m['latency_ms']:6.0f} ms {events}")
