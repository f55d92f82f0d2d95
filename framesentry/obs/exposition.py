"""Text exposition of this process's metrics, and the worker's own metrics port (multiprocess mode)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def render(extra: Iterable[Any] = ()) -> tuple[bytes, str]:
    """The exposition text of this process (or of all processes sharing a multiprocess directory), followed by
    the metrics of ``extra`` collectors computed now."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    collectors = list(extra)
    if collectors:
        scrape = CollectorRegistry(auto_describe=False)
        for collector in collectors:
            scrape.register(collector)
        body += generate_latest(scrape)
    return body, CONTENT_TYPE_LATEST


def use_multiprocess_dir(parent: Path | None = None) -> Path:
    """Make this process and its future children write metrics to a fresh directory.

    Must run before ``prometheus_client`` is first imported (it picks the value store then); the worker command
    calls it first thing, so its prefork pool children inherit the variable.
    """
    import sys

    if "prometheus_client" in sys.modules and not os.environ.get(MULTIPROC_ENV):
        raise RuntimeError("prometheus_client was imported before the multiprocess directory was set")
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
        _remove_dead(parent)
    path = Path(tempfile.mkdtemp(prefix=f"worker-{os.getpid()}-", dir=parent))
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def _remove_dead(parent: Path) -> None:
    """Drop the folders of workers that are gone (named ``worker-<pid>-*``), so restarts do not pile them up."""
    import shutil

    for folder in parent.glob("worker-*-*"):
        try:
            os.kill(int(folder.name.split("-")[1]), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (ValueError, PermissionError):
            continue


def serve_worker_metrics(host: str, port: int) -> int:
    """Serve the summed metrics of this process and its pool children on ``host:port``; returns the port."""
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return int(server.server_port)


def forget_process(pid: int) -> None:
    """A pool child exited: drop its live gauges (its counters and histograms still count)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
