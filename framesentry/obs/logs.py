"""Logging set-up: plain text or one JSON object per line, both carrying the ids of the work being done.

The ids (request, analysis, stream) live in context variables, so they follow the code through ``await``s and
into anything run with a copied context; ``bound`` sets them for a block.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Literal

ID_FIELDS = ("request_id", "analysis_id", "stream_id")
_ids: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"framesentry_{name}", default=None) for name in ID_FIELDS
}


def current_ids() -> dict[str, str]:
    """The ids set in this context (unset ones left out)."""
    return {name: value for name, var in _ids.items() if (value := var.get()) is not None}


def bind(**ids: object) -> list[contextvars.Token[str | None]]:
    """Set ids for the rest of this context (a task, a request); ``None`` values are skipped."""
    tokens = []
    for name, value in ids.items():
        if name not in _ids:
            raise ValueError(f"unknown log id {name!r}; one of {ID_FIELDS}")
        if value is not None:
            tokens.append(_ids[name].set(str(value)))
    return tokens


def unbind(tokens: list[contextvars.Token[str | None]]) -> None:
    for token in reversed(tokens):
        token.var.reset(token)


@contextmanager
def bound(**ids: object) -> Iterator[None]:
    """Set ids for a block, restoring the previous ones after it."""
    tokens = bind(**ids)
    try:
        yield
    finally:
        unbind(tokens)


class IdFilter(logging.Filter):
    """Copies the context's ids onto each record (``record.request_id`` ...), so any formatter can use them."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current_ids().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the ids, the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in ID_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """The readable format, with the ids appended as ``key=value``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = " ".join(f"{n}={v}" for n in ID_FIELDS if (v := getattr(record, n, None)) is not None)
        return f"{line} [{ids}]" if ids else line


def make_handler(fmt: Literal["plain", "json"], stream: IO[str] | None = None) -> logging.Handler:
    """A handler writing ``fmt`` lines (to stderr by default) with the context's ids."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter())
    handler.addFilter(IdFilter())
    return handler


def configure(fmt: Literal["plain", "json"], level: str = "INFO") -> None:
    """Route the root logger (and uvicorn's and Celery's, through propagation) to stderr in ``fmt``."""
    handler = make_handler(fmt)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
