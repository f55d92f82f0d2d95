"""One analysis job, independent of Celery: claim it, run the pipeline, store the outcome.

The Celery task (``jobs.tasks``) only translates the returned ``JobOutcome`` into ack / retry / webhook.
Bad media fails at once (retrying cannot help); transient faults are handed back for a retry with backoff;
anything unexpected fails the job with ``internal_error`` rather than looping.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from billiard.exceptions import SoftTimeLimitExceeded
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import InterfaceError, OperationalError

from framesentry.errors import FrameSentryError, JobTimeLimitError, MediaError, TransientError
from framesentry.jobs import derive
from framesentry.jobs.context import JobContext
from framesentry.jobs.progress import Heartbeat, JobAbandoned, JobInterrupted, ProgressReporter
from framesentry.store import analyses as repo
from framesentry.store.models import AnalysisStatus, Video, utcnow

log = logging.getLogger(__name__)

TRANSIENT: tuple[type[BaseException], ...] = (
    TransientError,
    OperationalError,
    InterfaceError,
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    TimeoutError,
)
EXTRA_ATTEMPTS = 3
"""Claims allowed beyond the retries, for workers that died mid-job; more means the job kills its worker."""

Kind = Literal["done", "failed", "retry", "busy", "gone", "finished_before", "interrupted"]


@dataclass(frozen=True)
class JobOutcome:
    kind: Kind
    retry_in_s: float | None = None
    notify: bool = False
    """A terminal state was reached and the analysis has a callback URL: send the webhook."""


def retry_delay_s(base_s: float, retries_done: int) -> float:
    return float(min(600.0, base_s * 2**retries_done))


def _fail(ctx: JobContext, analysis_id: uuid.UUID, lease: str | None, exc_code: str, message: str,
          details: dict[str, Any] | None, notify: bool) -> JobOutcome:
    with ctx.db.transaction() as session:
        changed = repo.fail(session, analysis_id, exc_code, message, details, worker=lease)
    return JobOutcome("failed", notify=notify and changed) if changed else JobOutcome("gone")


def run_analysis(ctx: JobContext, analysis_id: uuid.UUID, *, retries_done: int = 0) -> JobOutcome:
    """Run the job if this worker can claim it. Never raises for expected faults."""
    settings = ctx.settings
    lease = ctx.new_lease()
    stale_before = utcnow() - timedelta(seconds=3 * settings.job_heartbeat_s)
    with ctx.db.transaction() as session:
        claim = repo.claim(session, analysis_id, lease, stale_before)
        analysis = repo.get(session, analysis_id) if claim.claimed else None
        video: Video | None = analysis.video if analysis is not None else None
        callback = bool(analysis is not None and analysis.callback_url)
    if not claim.claimed:
        if claim.status is None:
            return JobOutcome("gone")
        if claim.status in (AnalysisStatus.DONE.value, AnalysisStatus.FAILED.value):
            return JobOutcome("finished_before")
        # Running elsewhere with a fresh heartbeat: look again once that heartbeat would be stale.
        return JobOutcome("busy", retry_in_s=3 * settings.job_heartbeat_s)
    if video is None:  # deleted between the claim and the read
        return JobOutcome("gone")
    if claim.attempts > settings.job_max_retries + 1 + EXTRA_ATTEMPTS:
        return _fail(ctx, analysis_id, lease, "too_many_attempts",
                     f"The analysis was started {claim.attempts - 1} times without finishing; giving up.",
                     {"attempts": claim.attempts - 1}, callback)

    reporter = ProgressReporter(
        ctx, analysis_id, lease, has_video=video.has_video, has_audio=video.has_audio,
        deadline=time.monotonic() + settings.job_time_limit_s,
    )
    try:
        with Heartbeat(reporter):
            reporter.enter("probe")
            with ctx.storage.local_path(video.storage_key) as path:
                result = ctx.analyzer(path, reporter)
            reporter.enter("saving")
            done = derive.completion(result, video.filename)
            with ctx.db.transaction() as session:
                if not repo.complete(session, analysis_id, lease, done):
                    return JobOutcome("gone")
        return JobOutcome("done", notify=callback)
    except MediaError as exc:
        return _fail(ctx, analysis_id, lease, exc.code, exc.message, exc.details, callback)
    except (JobTimeLimitError, SoftTimeLimitExceeded):
        limit = settings.job_time_limit_s
        return _fail(ctx, analysis_id, lease, JobTimeLimitError.code,
                     f"The analysis took longer than the {limit:g} s limit.", {"limit_s": limit}, callback)
    except JobAbandoned:
        return JobOutcome("gone")
    except JobInterrupted:
        with ctx.db.transaction() as session:
            repo.requeue(session, analysis_id, lease, stage="interrupted")
        return JobOutcome("interrupted")
    except FileNotFoundError as exc:
        return _fail(ctx, analysis_id, lease, "media_missing", "The uploaded file is no longer in storage.",
                     {"reason": str(exc)}, callback)
    except TRANSIENT as exc:
        log.warning("analysis %s: transient fault (%s), retry %d", analysis_id, exc, retries_done + 1)
        if retries_done >= settings.job_max_retries:
            return _fail(ctx, analysis_id, lease, TransientError.code,
                         f"The analysis kept failing on a temporary fault: {exc}",
                         {"retries": retries_done, "reason": type(exc).__name__}, callback)
        try:
            with ctx.db.transaction() as session:
                repo.requeue(session, analysis_id, lease, stage="retrying")
        except TRANSIENT:  # the database itself is the fault: the stale heartbeat lets the retry reclaim
            log.warning("analysis %s: could not hand back the job before retrying", analysis_id)
        return JobOutcome("retry", retry_in_s=retry_delay_s(settings.job_retry_backoff_s, retries_done))
    except FrameSentryError as exc:
        return _fail(ctx, analysis_id, lease, exc.code, exc.message, exc.details, callback)
    except Exception as exc:
        log.exception("analysis %s failed unexpectedly", analysis_id)
        return _fail(ctx, analysis_id, lease, "internal_error",
                     "The analysis failed because of an internal error; it has been logged.",
                     {"type": type(exc).__name__}, callback)


def mark_failed(ctx: JobContext, analysis_id: uuid.UUID, code: str, message: str) -> bool:
    """Fail a job from outside its run (hard time limit, crash hook); no-op if it already finished."""
    with ctx.db.transaction() as session:
        return repo.fail(session, analysis_id, code, message, {})
