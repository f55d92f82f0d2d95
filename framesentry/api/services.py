"""What the API process holds: settings, database, media storage, the Celery app, and in embedded mode the
in-process worker. Built by the app factory without touching any service; ``startup`` connects."""

from __future__ import annotations

import logging
import threading

from celery import Celery

from framesentry.api.live_explain import LiveExplainer
from framesentry.config import Settings
from framesentry.errors import ServiceUnavailableError
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
        # One set of models per process, shared by the upload jobs (embedded worker) and the live path.
        self.detectors = Detectors(settings)
        self.context = JobContext(
            settings, analyzer=analyzer or PipelineAnalyzer(settings, self.detectors), storage=self.storage,
            database=self.db,
        )
        self.celery: Celery = create_celery(settings, self.context)
        self.run_worker = settings.embedded if run_worker is None else run_worker
        self.migrate = migrate
        self.worker: EmbeddedWorker | None = None
        # Heat maps of the frame that turned a stream's verdict Fake, made off the live path (api/live_explain.py).
        self.live_explainer = LiveExplainer(self.detectors, self.db, self.storage) if settings.explain_enabled else None
        self.live: LiveHub | None = LiveHub(
            settings, self.db, self.detectors,
            on_fake=self.live_explainer.submit if self.live_explainer is not None else None,
        ) if settings.live_enabled else None
        self._anonymous_id: int | None = None
        self._lock = threading.Lock()

    @property
    def auth_enabled(self) -> bool:
        return bool(self.settings.api_keys)

    def startup(self) -> None:
        """Migrate the schema, register configured API keys, start the embedded worker if this is embedded."""
        if self.migrate:
            upgrade(self.db.engine)
        with self.db.transaction() as session:
            users.sync_configured_keys(session, [k.get_secret_value() for k in self.settings.api_keys])
            self._anonymous_id = users.ensure_user(session, users.ANONYMOUS).id
        if self.run_worker:
            self.worker = EmbeddedWorker(self.celery)
            self.worker.start()
        if self.live is not None and self.live_explainer is not None:
            self.live_explainer.start()

    def shutdown(self) -> None:
        if self.live_explainer is not None:
            self.live_explainer.stop()
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
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
