"""Publishing jobs again from what the database says, for brokers that lost or still hold them.

Safe to over-publish: a job is claimed through its database lease, so a duplicate message of a finished job
is skipped and one of a job running elsewhere waits until that worker's heartbeat is stale.

``sweep`` runs every ``sweep_interval_s`` in each worker process (and in the embedded server): it sends queued
jobs nobody will take (never published, or published long ago and still queued) and hands back the jobs of
workers that are gone (``jobs.presence``).
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta

from celery import Celery

from framesentry.jobs import presence
from framesentry.jobs.app import enqueue_analysis
from framesentry.jobs.tasks import context_of, enqueue_deep_pass
from framesentry.store import analyses as repo
from framesentry.store import explanations as xrepo
from framesentry.store.models import utcnow

log = logging.getLogger(__name__)


def publish(app: Celery, analysis_id: uuid.UUID) -> None:
    """Publish one job and set its outbox marker."""
    ctx = context_of(app)
    enqueue_analysis(app, str(analysis_id), ctx.settings.queue_name)
    with ctx.db.transaction() as session:
        repo.mark_enqueued(session, analysis_id)


def requeue(app: Celery, *, stale_only: bool) -> int:
    """Publish unfinished jobs: all of them (embedded start: the memory broker forgot its queue) or only running
    jobs whose worker stopped beating (a distributed worker's start: its predecessor may have been killed, and
    Redis would only hand the message back after the visibility timeout). Returns how many were published."""
    ctx = context_of(app)
    with ctx.db.session() as session:
        if stale_only:
            stale_before = utcnow() - timedelta(seconds=3 * ctx.settings.job_heartbeat_s)
            ids = repo.stale_running_ids(session, stale_before)
        else:
            ids = repo.unfinished_ids(session)
    for analysis_id in ids:
        publish(app, analysis_id)
    if ids:
        log.warning("re-queued %d %s analyses from the database", len(ids), "stalled" if stale_only else "unfinished")
    return len(ids)


def requeue_deep_passes(app: Celery) -> int:
    """Deep passes an embedded server left queued or running when it stopped (the memory broker forgot them):
    sent again from the start (a deep pass stores its artifacts only when it finishes). Returns how many."""
    ctx = context_of(app)
    with ctx.db.session() as session:
        ids = xrepo.unfinished_deep_passes(session)
    for analysis_id in ids:
        enqueue_deep_pass(app, analysis_id)
    if ids:
        log.warning("re-queued %d unfinished deep passes from the database", len(ids))
    return len(ids)


@dataclass(frozen=True)
class SweepReport:
    unpublished: int = 0
    """Queued jobs (re)published: never sent, or sent long ago and still queued."""
    reclaimed: int = 0
    """Running jobs handed back because the worker holding them is gone."""


def reclaim_orphans(app: Celery, suspects: set[str] | None = None) -> list[uuid.UUID]:
    """Hand back, and publish, running jobs whose lease names a worker that no longer exists.

    With ``suspects`` (the workers found missing by the previous pass, updated in place) a worker must be
    missing twice in a row: a Redis that restarted without its data has lost every presence key until the
    workers refresh theirs (a third of the TTL), and a live worker's job must not be taken from it."""
    ctx = context_of(app)
    if not presence.supported(ctx.settings):
        return []
    with ctx.db.session() as session:
        leases = [(aid, lease, presence.worker_of(lease)) for aid, lease in repo.running_leases(session)]
    leases = [(aid, lease, worker) for aid, lease, worker in leases if worker]
    named = {worker for _, _, worker in leases if worker}
    missing = named - presence.alive(ctx.settings, named)
    confirmed = missing if suspects is None else missing & suspects
    if suspects is not None:
        suspects.clear()
        suspects.update(missing)
    reclaimed = []
    for aid, lease, worker in leases:
        if worker not in confirmed:
            continue
        with ctx.db.transaction() as session:
            released = repo.release_lease(session, aid, lease)
        if released:
            log.warning("analysis %s: worker %s is gone; job handed back", aid, worker)
            publish(app, aid)
            reclaimed.append(aid)
    return reclaimed


def sweep(app: Celery, suspects: set[str] | None = None) -> SweepReport:
    """One pass: reclaim jobs of dead workers, then publish queued jobs nobody will take."""
    ctx = context_of(app)
    settings = ctx.settings
    reclaimed = reclaim_orphans(app, suspects)
    now = utcnow()
    with ctx.db.session() as session:
        ids = repo.unpublished_ids(session, created_before=now - timedelta(seconds=settings.outbox_grace_s),
                                   published_before=now - timedelta(seconds=settings.queued_stale_s))
    for analysis_id in ids:
        publish(app, analysis_id)
    if ids:
        log.warning("sweeper: published %d queued analyses nobody had taken", len(ids))
    return SweepReport(unpublished=len(ids), reclaimed=len(reclaimed))


class Sweeper:
    """Runs ``sweep`` every ``sweep_interval_s`` on a daemon thread; faults are logged and retried next time."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._suspects: set[str] = set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="framesentry-sweeper", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        interval = context_of(self.app).settings.sweep_interval_s
        while True:
            try:
                sweep(self.app, self._suspects)
            except Exception as exc:  # broker or database down: the next pass tries again
                log.warning("sweeper pass failed: %s", exc)
            if self._stop.wait(interval):
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
