"""What the API process holds: settings, database, media storage, the Celery app, and in embedded mode the
in-process worker. Built by the app factory without touching any service; ``startup`` connects."""

from __future__ import annotations

import logging
import threading

from celery import Celery

from framesentry.config import Settings
from framesentry.errors import ServiceUnavailableError
from framesentry.inference.batching import BatchedScorer
from framesentry.inference.detectors import Detectors
from framesentry.jobs.app import create_celery, enqueue_analysis
from framesentry.jobs.context import Analyzer, JobContext, PipelineAnalyzer
from framesentry.jobs.embedded import EmbeddedWorker
from framesentry.store import users
from framesentry.store.db import Database
from framesentry.store.migrate import upgrade
from framesentry.store.storage import LocalStorage, MediaStorage
from framesentry.stream.hub import LiveHub

log = logging.getLogger(__name__)


class Services:
    def __init__(
        self,
        settings: Settings,
        *,
        run_worker: bool | None = None,
        analyzer: Analyzer | None = None,
        migrate: bool = True,
    ) -> None:
        self.settings = settings
        self.db = Database(settings.database_url)
        self.storage: MediaStorage = LocalStorage(settings.media_dir)
        # One set of models and one queue per model in the process, shared by the upload jobs (embedded
        # worker, bulk lane) and the live path (live lane).
        self.detectors = Detectors(settings)
        self.scorer = BatchedScorer(self.detectors)
        self.context = JobContext(
            settings, analyzer=analyzer or PipelineAnalyzer(settings, self.scorer), storage=self.storage,
            database=self.db,
        )
        self.celery: Celery = create_celery(settings, self.context)
        self.run_worker = settings.embedded if run_worker is None else run_worker
        self.migrate = migrate
        self.worker: EmbeddedWorker | None = None
        self.live: LiveHub | None = LiveHub(settings, self.db, self.scorer) if settings.live_enabled else None
        self._anonymous_id: int | None = None
        self._lock = threading.Lock()

    @property
    def auth_enabled(self) -> bool:
        return self.settings.auth_required

    def startup(self) -> None:
        """Migrate the schema, register configured API keys, start the embedded worker if this is embedded."""
        if self.migrate:
            upgrade(self.db.engine)
        with self.db.transaction() as session:
            revoked = users.sync_configured_keys(session, [k.get_secret_value() for k in self.settings.api_keys])
            self._anonymous_id = users.ensure_user(session, users.ANONYMOUS).id
        if revoked:
            log.warning("revoked %d configured API key(s) no longer in FRAMESENTRY_API_KEYS: %s", len(revoked),
                        ", ".join(revoked))
        if self.run_worker:
            self.worker = EmbeddedWorker(self.celery)
            self.worker.start()

    def shutdown(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        self.scorer.stop()  # after the worker (its job hands itself back) and the live hub
        self.db.engine.dispose()

    def anonymous_id(self) -> int:
        with self._lock:
            if self._anonymous_id is None:
                with self.db.transaction() as session:
                    self._anonymous_id = users.ensure_user(session, users.ANONYMOUS).id
            return self._anonymous_id

    def enqueue(self, analysis_id: str) -> None:
        """Publish the job; a broker outage becomes a clear 503."""
        try:
            enqueue_analysis(self.celery, analysis_id, self.settings.queue_name)
        except Exception as exc:  # kombu/redis raise many types for an unreachable broker
            log.error("could not queue analysis %s: %s", analysis_id, exc)
            raise ServiceUnavailableError(
                "The job queue is unavailable; the upload was not kept. Please retry shortly.",
                reason=type(exc).__name__,
            ) from exc
