"""The deep-pass job: explanations for a finished analysis, run as its own task after the verdict.

The verdict is stored (and its webhook sent) before this starts, so explanations never delay it. State lives in
the analysis's ``deep_pass`` explanation row: queued -> running (stage, progress) -> done (the explanation JSON)
or failed (the reason). Artifacts go to media storage under ``explanations/<analysis id>/`` with one row each.
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from framesentry.errors import FrameSentryError
from framesentry.jobs.context import JobContext
from framesentry.store import analyses as repo
from framesentry.store import explanations as xrepo
from framesentry.store.models import AnalysisStatus

log = logging.getLogger(__name__)
MIN_WRITE_INTERVAL_S = 0.5


@dataclass(frozen=True)
class DeepOutcome:
    kind: Literal["done", "failed", "gone", "not_ready"]


def artifact_key(analysis_id: uuid.UUID, name: str) -> str:
    return f"explanations/{analysis_id}/{name}"


def queue_state(ctx: JobContext, analysis_id: uuid.UUID) -> None:
    """Mark the deep pass queued (called before the task is sent, so the analysis shows it at once)."""
    with ctx.db.transaction() as session:
        xrepo.set_deep_pass(session, analysis_id, status="queued", stage=None, progress=0.0, error=None)


def run_deep_pass_job(ctx: JobContext, analysis_id: uuid.UUID) -> DeepOutcome:
    """Explain one done analysis; never raises for expected faults (the row says what happened)."""
    from framesentry.inference.result import AnalysisResult

    with ctx.db.transaction() as session:
        analysis = repo.get(session, analysis_id)
        if analysis is None:
            return DeepOutcome("gone")
        if analysis.status != AnalysisStatus.DONE.value or analysis.result is None:
            return DeepOutcome("not_ready")
        result = AnalysisResult.model_validate(analysis.result)
        key, sha256 = analysis.video.storage_key, analysis.video.sha256
        xrepo.set_deep_pass(session, analysis_id, status="running", stage="starting", progress=0.0, error=None)

    last = [0.0]

    def progress(stage: str, fraction: float) -> None:
        now = time.monotonic()
        if now - last[0] < MIN_WRITE_INTERVAL_S and fraction < 1.0:
            return
        last[0] = now
        with ctx.db.transaction() as s:
            xrepo.set_deep_pass(s, analysis_id, stage=stage, progress=round(float(fraction), 3))

    try:
        with tempfile.TemporaryDirectory(prefix="framesentry-explain-") as tmp, ctx.storage.local_path(key) as path:
            explanation = ctx.explainer(path, result, Path(tmp), progress, sha256)
            stored = []
            for art in explanation.artifacts:
                ctx.storage.put(Path(tmp) / art.name, artifact_key(analysis_id, art.name))
                stored.append(art)
        with ctx.db.transaction() as session:
            if repo.get(session, analysis_id) is None:  # deleted while explaining: drop the bytes again
                for art in stored:
                    ctx.storage.delete(artifact_key(analysis_id, art.name))
                return DeepOutcome("gone")
            for art in stored:
                xrepo.add_artifact(session, art.name, art.media_type, artifact_key(analysis_id, art.name),
                                   analysis_id=analysis_id, data={"description": art.description})
            xrepo.set_deep_pass(session, analysis_id, status="done", stage="done", progress=1.0,
                                explanation=explanation.model_dump(mode="json"))
        return DeepOutcome("done")
    except Exception as exc:  # the verdict stands; the deep pass says why it has no explanation
        log.exception("deep pass of %s failed", analysis_id)
        message = exc.message if isinstance(exc, FrameSentryError) else f"{type(exc).__name__}: {exc}"
        try:
            with ctx.db.transaction() as session:
                if repo.get(session, analysis_id) is not None:
                    xrepo.set_deep_pass(session, analysis_id, status="failed", error=message[:500])
        except Exception:
            log.exception("could not record the deep pass failure of %s", analysis_id)
        return DeepOutcome("failed")
