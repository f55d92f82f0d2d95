"""What a job needs, built once per worker process: settings, database, media storage and the analyser.

The analyser is a plain callable so the job logic does not depend on how the pipeline is wired; by default
it is the real pipeline with one set of models loaded lazily on the first job and kept for the next ones.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from framesentry.config import Settings
from framesentry.store.db import Database
from framesentry.store.storage import LocalStorage, MediaStorage

if TYPE_CHECKING:
    from framesentry.explain.schema import Explanation
    from framesentry.inference.detectors import Detectors
    from framesentry.inference.result import AnalysisResult

ProgressCallback = Callable[[str, float], None]
Analyzer = Callable[[Path, ProgressCallback], "AnalysisResult"]
Explainer = Callable[[Path, "AnalysisResult", Path, ProgressCallback, str | None], "Explanation"]
"""(media path, result, output folder, progress, media sha256) -> explanation with its artifacts in the folder."""


class PipelineAnalyzer:
    """``inference.pipeline.analyze_file`` with models shared across jobs of this process."""

    def __init__(self, settings: Settings, detectors: Detectors | None = None) -> None:
        self.settings = settings
        self._detectors = detectors
        self._lock = threading.Lock()

    def detectors(self) -> Detectors:
        from framesentry.inference.detectors import Detectors

        with self._lock:
            if self._detectors is None:
                self._detectors = Detectors(self.settings)
            return self._detectors

    def __call__(self, path: Path, progress: ProgressCallback) -> AnalysisResult:
        from framesentry.inference.pipeline import analyze_file

        return analyze_file(path, self.settings, self.detectors(), progress)

    def explain(self, path: Path, result: AnalysisResult, out_dir: Path, progress: ProgressCallback,
                sha256: str | None) -> Explanation:
        """The deep pass (``explain.deep_pass``) with the same loaded models."""
        from framesentry.explain.deep_pass import run_deep_pass

        return run_deep_pass(path, result, out_dir, self.detectors(), progress=progress, sha256=sha256)


class JobContext:
    """Per-process resources for tasks; ``after_fork`` makes a forked worker child open its own connections."""

    def __init__(
        self,
        settings: Settings,
        *,
        analyzer: Analyzer | None = None,
        explainer: Explainer | None = None,
        storage: MediaStorage | None = None,
        database: Database | None = None,
    ) -> None:
        self.settings = settings
        self.analyzer: Analyzer = analyzer or PipelineAnalyzer(settings)
        if explainer is None:
            pipeline = self.analyzer if isinstance(self.analyzer, PipelineAnalyzer) else PipelineAnalyzer(settings)
            explainer = pipeline.explain
        self.explainer: Explainer = explainer
        self.storage: MediaStorage = storage or LocalStorage(settings.media_dir)
        self._database = database
        self.shutting_down = threading.Event()
        """Set by an embedded server that is stopping: running jobs hand themselves back to the queue."""

    @property
    def db(self) -> Database:
        if self._database is None:
            self._database = Database(self.settings.database_url)
        return self._database

    @cached_property
    def worker_name(self) -> str:
        return f"{socket.gethostname()}:{os.getpid()}"

    def after_fork(self) -> None:
        """In a prefork child: forget the parent's pooled connections and identity."""
        if self._database is not None:
            self._database.dispose()
        self.__dict__.pop("worker_name", None)
