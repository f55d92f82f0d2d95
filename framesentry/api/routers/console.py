"""The web console: ``/`` serves its page, ``/console/`` its ES modules and stylesheet (committed under
``framesentry/api/console``, no build step, no CDN); ``/console/sdk/framesentry.js`` is the browser SDK itself
(``sdk/js``, linked into the package). The page talks to the public API like any client: the API key travels in
the ``X-API-Key`` header (and a WebSocket subprotocol), never in a URL.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

router = APIRouter(include_in_schema=False)

# Everything the page loads comes from this server; blob: for authorised images, PDFs and the camera preview.
CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self' ws: wss:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def console_dir() -> Path:
    return Path(str(resources.files("framesentry.api").joinpath("console")))


@router.get("/", response_class=HTMLResponse)
def console_page() -> HTMLResponse:
    """The console's single page; its views are chosen by the URL fragment (``#/monitor``, ``#/upload``...)."""
    page = (console_dir() / "index.html").read_text(encoding="utf-8")
    return HTMLResponse(page, headers={"Cache-Control": "no-cache", "Content-Security-Policy": CSP,
                                       "Referrer-Policy": "no-referrer"})


def install(app: FastAPI) -> None:
    """Route ``/`` and mount the static assets (the SDK is a symlink out of the folder, hence follow_symlink)."""
    app.include_router(router)
    app.mount("/console", StaticFiles(directory=console_dir(), follow_symlink=True), name="console")
