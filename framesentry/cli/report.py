"""``framesentry report ID|FILE``: the PDF report of a stored analysis, or of a file analysed right here."""

from __future__ import annotations

import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from framesentry.errors import NotFoundError, NotReadyError


def _from_file(file: Path, out: Path, keep: Path | None, err: Console) -> None:
    from framesentry.cli.analyze import run_analysis
    from framesentry.digest import sha256_file
    from framesentry.explain.deep_pass import run_deep_pass
    from framesentry.inference.pipeline import analyze_file

    result = run_analysis(file, show_progress=sys.stderr.isatty()) if keep is None else analyze_file(file)
    err.print(f"verdict {result.verdict.value} (p_fake {result.p_fake:.3f}); explaining...")
    with tempfile.TemporaryDirectory(prefix="framesentry-report-") as tmp:
        folder = keep or Path(tmp)
        run_deep_pass(file, result, folder, sha256=sha256_file(file))
        shutil.copyfile(folder / "report.pdf", out)


def _from_service(analysis_id: uuid.UUID, out: Path, err: Console) -> None:
    from framesentry.config import get_settings
    from framesentry.jobs.context import JobContext
    from framesentry.jobs.deep_pass import run_deep_pass_job
    from framesentry.store import analyses as repo
    from framesentry.store import explanations as xrepo

    ctx = JobContext(get_settings())
    with ctx.db.session() as session:
        row = repo.get(session, analysis_id)
        if row is None:
            raise NotFoundError(f"No analysis with id '{analysis_id}' in {ctx.settings.database_url or 'SQLite'}.")
        status = row.status
        art = xrepo.artifact(session, "report.pdf", analysis_id=analysis_id)
        key = art.storage_key if art is not None else None
    if key is None:
        if status != "done":
            raise NotReadyError(f"Analysis {analysis_id} is {status}; its report comes after the verdict.")
        err.print("no report stored yet: running the deep pass here...")
        outcome = run_deep_pass_job(ctx, analysis_id)
        if outcome.kind != "done":
            raise NotReadyError(f"The deep pass of {analysis_id} ended '{outcome.kind}'.")
        key = f"explanations/{analysis_id}/report.pdf"
    with ctx.storage.local_path(key) as path:
        shutil.copyfile(path, out)


def report(
    target: Annotated[str, typer.Argument(help="A media file to analyse, or the id of a stored analysis.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="PDF to write (default: next to the "
                                                "input, or <id>.pdf).")] = None,
    artifacts: Annotated[Path | None, typer.Option(help="For a FILE: keep every artifact (heat maps, saliency, "
                                                   "plots) in this folder.")] = None,
) -> None:
    """Write the PDF report: verdict, file facts and sha256, timeline, heat maps, audio saliency, summary."""
    err = Console(stderr=True)
    path = Path(target)
    if path.is_file():
        out = output or Path(f"{path.stem}.report.pdf")
        _from_file(path, out, artifacts, err)
    else:
        try:
            analysis_id = uuid.UUID(target)
        except ValueError:
            raise NotFoundError(f"'{target}' is neither a file nor an analysis id.") from None
        out = output or Path(f"{analysis_id}.pdf")
        _from_service(analysis_id, out, err)
    err.print(f"report: {out}")
