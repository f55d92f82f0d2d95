"""``framesentry openapi``: print the HTTP API's OpenAPI document (no service is contacted)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer


def openapi(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Print the OpenAPI 3.1 spec of the REST API as JSON."""
    from framesentry.api.app import create_app
    from framesentry.cli.service_settings import load_settings

    spec = create_app(load_settings(), run_worker=False).openapi()
    text = json.dumps(spec, indent=2, sort_keys=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
