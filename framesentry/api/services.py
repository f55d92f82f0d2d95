"""What the API process holds: settings, database, media storage, the Celery app, and in embedded mode the
in-process worker. Built by the app factory without touching any service; ``startup`` connects."""

from __future__ import annotations

import logging
import threading
import uuid

from celery import Celery
from sqlalchemy.exc import InterfaceError, OperationalError

from framesentry.api.live_explain import LiveExplainer
from framesentry.api.ratelimit import RateLimits
from framesentry.config import Settings
from framesentry.errors import ServiceUnavailableError
from framesentry.inference.batching import BatchedScorer
from framesentry.inference.detectors import Detectors
from framesentry.jobs.app import create_celery
from framesentry.jobs.context import Analyzer, Explainer, JobContext
from framesentry.jobs.embedded import EmbeddedWorker
from framesentry.jobs.isolation import IsolatedAnalyzer, upload_analyzer
from framesentry.jobs.recovery import Sweeper, publish, requeue_deep_passes
from framesentry.store import users
from framesentry.store.db import Database
from framesentry.store.migrate import upgrade
from framesentry.store.storage import LocalStorage, MediaStorage
from framesentry.stream.hub import LiveHub

log = logging.getLogger(__name__)
DB_DOWN = (OperationalError, InterfaceError)


class Services:
    def __init__(
        self,
        settings: Settings,
        *,
        run_worker: bool | None = None,
        analyzer: Analyzer | None = None,
        explainer: Explainer | None = None,
        migrate: bool = True,
    ) -> None:
        self.settings = settings
        self.db = Database(settings.database_url)
        self.storage: MediaStorage = LocalStorage(settings.media_dir)
        # One set of models and one queue per model in the process, shared by the upload jobs (embedded
        # worker, bulk lane) and the live path (live lane). Beside live streams, uploads are analysed in a child
        # process instead (jobs/isolation.py): in this one they took the GIL from the live path.
        self.detectors = Detectors(settings)
        self.scorer = BatchedScorer(self.detectors)
        self.run_worker = settings.embedded if run_worker is None else run_worker
        if analyzer is None:
            analyzer = upload_analyzer(settings, self.scorer, beside_live=settings.live_enabled and self.run_worker)
        self.context = JobContext(settings, analyzer=analyzer, explainer=explainer, storage=self.storage,
                                  database=self.db)
        self.celery: Celery = create_celery(settings, self.context)
        self.migrate = migrate
        self.worker: EmbeddedWorker | None = None
        self.webhook_worker: EmbeddedWorker | None = None
        self.explain_worker: EmbeddedWorker | None = None
        # Heat maps of the frame that turned a stream's verdict Fake, made off the live path (api/live_explain.py).
        self.live_explainer = LiveExplainer(self.detectors, self.db, self.storage) if settings.explain_enabled else None
        self.live: LiveHub | None = LiveHub(
            settings, self.db, self.scorer,
            on_fake=self.live_explainer.submit if self.live_explainer is not None else None,
        ) if settings.live_enabled else None
        self._anonymous_id: int | None = None
        self._lock = threading.Lock()
        self._db_ready = False
        self.limits = RateLimits(settings)
        self.sweeper: Sweeper | None = None

    @property
    def auth_enabled(self) -> bool:
        return self.settings.auth_required

    def startup(self) -> None:
        """Migrate the schema, register configured API keys, start the embedded worker if this is embedded.

        A database that cannot be reached does not stop the API from starting: readiness says so, requests get
        503, and the first request after it comes back finishes this (``ensure_ready``)."""
        try:
            self.ensure_ready()
        except ServiceUnavailableError:
            if self.run_worker:
                raise
            log.error("the database is unreachable; the API starts unready and retries on each request")
        if self.run_worker:
            self.worker = EmbeddedWorker(self.celery)
            self.worker.start()
            self.webhook_worker = EmbeddedWorker(self.celery, queue=self.settings.webhook_queue, recover=False)
            self.webhook_worker.start()
            if self.settings.explain_enabled:  # deep passes beside the analyses, never in front of one
                self.explain_worker = EmbeddedWorker(self.celery, queue=self.settings.explain_queue, recover=False)
                self.explain_worker.start()
                if self.settings.embedded:  # the memory broker forgot them; Redis hands them back by itself
                    requeue_deep_passes(self.celery)
            self.sweeper = Sweeper(self.celery)
            self.sweeper.start()
            if isinstance(self.context.analyzer, IsolatedAnalyzer):  # its models load while nothing waits on them
                threading.Thread(target=self._start_analysis_process, name="analysis-process-start",
                                 daemon=True).start()
        if self.live is not None and self.live_explainer is not None:
            self.live_explainer.start()

    def _start_analysis_process(self) -> None:
        assert isinstance(self.context.analyzer, IsolatedAnalyzer)
        try:
            self.context.analyzer.start()
        except Exception as exc:  # the first upload tries again and fails with the reason
            log.error("the analysis process did not start: %s", exc)

    def ensure_ready(self) -> None:
        """Migrate and reconcile the configured keys once; raises 503 while the database is unreachable (a
        request must never be authorised against keys that were not reconciled)."""
        if self._db_ready:
            return
        with self._lock:
            if self._db_ready:
                return
            try:
                if self.migrate:
                    upgrade(self.db.engine)
                with self.db.transaction() as session:
                    specs = [k.get_secret_value() for k in self.settings.api_keys]
                    revoked = users.sync_configured_keys(session, specs)
                    self._anonymous_id = users.ensure_user(session, users.ANONYMOUS).id
            except DB_DOWN as exc:
                raise ServiceUnavailableError("The database is unreachable; please retry shortly.",
                                              reason=type(exc).__name__) from exc
            self._db_ready = True
        if revoked:
            log.warning("revoked %d configured API key(s) no longer in FRAMESENTRY_API_KEYS: %s", len(revoked),
                        ", ".join(revoked))

    def guard_failures(self, address: str | None) -> None:
        self.limits.guard_address(address)

    def record_failure(self, address: str | None) -> None:
        self.limits.record_failure(address)

    def check_rate(self, caller: str) -> None:
        self.limits.check_request(caller)

    def check_upload_quota(self, caller: str) -> None:
        self.limits.check_upload(caller)

    def checks(self) -> dict[str, str]:
        """Each dependency: ``ok``, ``unreachable`` (or ``embedded`` for the in-process broker)."""
        from sqlalchemy import text

        result = {"database": "ok", "broker": "embedded" if self.settings.embedded else "ok"}
        try:
            with self.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            log.warning("health: database unreachable: %s", exc)
            result["database"] = "unreachable"
        if not self.settings.embedded:
            try:
                with self.celery.connection_for_write() as conn:
                    conn.ensure_connection(max_retries=1, interval_start=0, timeout=self.settings.broker_timeout_s)
                    conn.default_channel.client.ping()
            except Exception as exc:
                log.warning("health: broker unreachable: %s", exc)
                result["broker"] = "unreachable"
        return result

    def shutdown(self) -> None:
        if self.live_explainer is not None:
            self.live_explainer.stop()
        if self.sweeper is not None:
            self.sweeper.stop()
            self.sweeper = None
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        if self.webhook_worker is not None:
            self.webhook_worker.stop(timeout_s=5)
            self.webhook_worker = None
        if self.explain_worker is not None:
            self.explain_worker.stop(timeout_s=5)  # a deep pass is not handed back (docs/EXPLAIN.md)
            self.explain_worker = None
        if isinstance(self.context.analyzer, IsolatedAnalyzer):
            self.context.analyzer.close()
        self.scorer.stop()  # after the worker (its job hands itself back) and the live hub
        self.db.engine.dispose()

    def anonymous_id(self) -> int:
        self.ensure_ready()
        assert self._anonymous_id is not None
        return self._anonymous_id

    def enqueue(self, analysis_id: str) -> None:
        """Publish the job and set its outbox marker; a broker outage (or one that does not answer within
        ``broker_timeout_s``) becomes a clear 503."""
        try:
            publish(self.celery, uuid.UUID(analysis_id))
        except DB_DOWN:
            raise
        except Exception as exc:  # kombu/redis raise many types for an unreachable broker
            log.error("could not queue analysis %s: %s", analysis_id, exc)
            raise ServiceUnavailableError(
                "The job queue is unavailable; the upload was not kept. Please retry shortly.",
                reason=type(exc).__name__,
            ) from exc
