"""Publishing jobs again from what the database says, for brokers that lost or still hold them.

Safe to over-publish: a job is claimed through its database lease, so a duplicate message of a finished job
is skipped and one of a job running elsewhere waits until that worker's heartbeat is stale.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import Celery

from framesentry.jobs.app import enqueue_analysis
from framesentry.jobs.tasks import context_of
from framesentry.store import analyses as repo
from framesentry.store.models import utcnow

log = logging.getLogger(__name__)


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
        enqueue_analysis(app, str(analysis_id), ctx.settings.queue_name)
    if ids:
        log.warning("re-queued %d %s analyses from the database", len(ids), "stalled" if stale_only else "unfinished")
    return len(ids)
