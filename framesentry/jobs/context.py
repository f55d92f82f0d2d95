"""What a job needs, built once per worker process: settings, database, media storage and the analyser.

The analyser is a plain callable so the job logic does not depend on how the pipeline is wired; by default
it is the real pipeline with one set of models loaded lazily on the first job and kept for the next ones.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from framesentry.config import Settings
from framesentry.store.db import Database
from framesentry.store.storage import LocalStorage, MediaStorage

if TYPE_CHECKING:
    from framesentry.explain.schema import Explanation
    from framesentry.inference.batching import BatchedScorer
    from framesentry.inference.pipeline import ProgressCallback
    from framesentry.inference.result import AnalysisResult

DEEP_PASS_NICE = 19
"""The deep pass runs at the lowest priority (nice 19): a verdict or a live score never waits for the cores."""

Analyzer = Callable[[Path, "ProgressCallback"], "AnalysisResult"]
Explainer = Callable[[Path, "AnalysisResult", Path, "ProgressCallback", str | None], "Explanation"]
"""(media path, result, output folder, progress, media sha256) -> explanation with its artifacts in the folder."""


class PipelineAnalyzer:
    """``inference.pipeline.analyze_file`` on the process's shared ``BatchedScorer`` (uploads in its bulk lane);
    a worker process makes its own on the first job. Beside live streams a server uses its subclass
    ``jobs.isolation.IsolatedAnalyzer``, which runs the same call in a child process."""

    def __init__(self, settings: Settings, scorer: BatchedScorer | None = None) -> None:
        self.settings = settings
        self._scorer = scorer
        self._lock = threading.Lock()
        self._lowered: set[int] = set()

    def scorer(self) -> BatchedScorer:
        """The shared scorer (made here on a worker process's first job), running."""
        from framesentry.inference.batching import BatchedScorer
        from framesentry.inference.detectors import Detectors

        with self._lock:
            if self._scorer is None:
                self._scorer = BatchedScorer(Detectors(self.settings))
            self._scorer.start()  # no-op when running; threads start here, after a prefork
            return self._scorer

    def _lower(self, nice: int) -> None:
        """Lower this job thread's OS priority once: it only ever runs jobs of one queue."""
        from framesentry.engines.batcher import lower_thread_priority

        if threading.get_ident() not in self._lowered:
            lower_thread_priority(nice)
            self._lowered.add(threading.get_ident())

    def __call__(self, path: Path, progress: ProgressCallback) -> AnalysisResult:
        from framesentry.inference.pipeline import analyze_file

        scorer = self.scorer()
        # Upload work yields the cores to live streams (this thread decodes the file; the models run in the
        # scorer's bulk lane, which is lowered too).
        self._lower(self.settings.bulk_nice)
        return analyze_file(path, self.settings, progress=progress, scorer=scorer)

    def explain(self, path: Path, result: AnalysisResult, out_dir: Path, progress: ProgressCallback,
                sha256: str | None) -> Explanation:
        """The deep pass (``explain.deep_pass``) with the same loaded models, on its own queue's thread at the
        lowest OS priority: it runs beside analyses and live streams, and both win the cores over it."""
        from framesentry.explain.deep_pass import run_deep_pass

        self._lower(DEEP_PASS_NICE)
        return run_deep_pass(path, result, out_dir, self.scorer().detectors, progress=progress, sha256=sha256)


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
        self.worker_id: str | None = None
        """Set by ``framesentry worker``: the process's presence id, written into every lease it takes (kept in
        prefork children, so a lease names the worker process whose death frees it)."""
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

    def new_lease(self) -> str:
        """A lease for one claim: ``<worker id>|<host>:<pid>:<nonce>`` (no worker id in embedded mode)."""
        lease = f"{self.worker_name}:{uuid.uuid4().hex[:8]}"
        return f"{self.worker_id}|{lease}" if self.worker_id else lease

    def after_fork(self) -> None:
        """In a prefork child: forget the parent's pooled connections and identity."""
        if self._database is not None:
            self._database.dispose()
        self.__dict__.pop("worker_name", None)
