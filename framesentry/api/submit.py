"""Accepting an upload: stream it to staging, check it, store it, record the job, queue it.

Order matters: nothing is queued before the media has been sniffed and probed, and nothing is kept when a
later step fails (staged file discarded, rows and stored file removed when the queue is down).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from framesentry.api.deps import Owner
from framesentry.api.schemas import AnalysisSummary, to_summary
from framesentry.api.services import Services
from framesentry.api.uploads import StagedUpload, receive
from framesentry.errors import BlockedDestinationError, ConflictError, InvalidCallbackUrlError, MediaLimitError
from framesentry.jobs import egress
from framesentry.store import analyses as repo
from framesentry.store.models import Analysis

MULTIPART_OVERHEAD = 64 * 1024
MAX_URL = 2048
_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")


@dataclass(frozen=True)
class Submitted:
    analysis: Analysis
    replayed: bool
    accepted: AnalysisSummary | None = None
    """A new job's summary as committed, before it is queued (a worker may pick it up at once)."""


def check_callback_url(url: str, allowed_networks: list[str] | None = None) -> str:
    """An absolute http(s) URL with a host, no credentials, of sane length, and not an IP literal of an internal
    address (names are resolved and checked again when the webhook is sent: ``jobs.egress``)."""
    url = url.strip()
    if len(url) > MAX_URL:
        raise InvalidCallbackUrlError(f"callback_url is longer than {MAX_URL} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidCallbackUrlError(f"callback_url is not a valid URL: {exc}.", callback_url=url) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidCallbackUrlError(
            "callback_url must be an absolute http:// or https:// URL with a host.", callback_url=url
        )
    if parts.username or parts.password:
        raise InvalidCallbackUrlError("callback_url must not contain credentials.", callback_url=url)
    if port == 0:
        raise InvalidCallbackUrlError("callback_url has an invalid port.", callback_url=url)
    literal = egress.literal_address(parts.hostname)
    if literal is not None and not egress.allowed(literal, egress.parse_networks(allowed_networks or [])):
        raise BlockedDestinationError(
            "callback_url points at an internal address; webhooks go to public addresses only "
            "(operators can allow internal receivers with FRAMESENTRY_WEBHOOK_ALLOWED_NETWORKS).", callback_url=url,
        )
    return url


def staged_name(filename: str) -> str:
    """A harmless local file name that still reads like the upload's (probe messages quote it)."""
    name = re.sub(r"[^\w.\- ]", "_", filename).strip()[:200]
    return name if name and not name.startswith(".") else f"upload{Path(name).suffix}"


def _storage_key(video_id: uuid.UUID, upload: StagedUpload) -> str:
    suffix = Path(upload.filename).suffix
    return f"videos/{video_id.hex}{suffix.lower() if _SUFFIX.match(suffix) else ''}"


def _replay(existing: Analysis, upload: StagedUpload) -> Submitted:
    if existing.video.sha256 != upload.sha256:
        raise ConflictError(
            "This Idempotency-Key was already used for a different file.",
            analysis_id=str(existing.id), code_hint="idempotency_key_reused",
        )
    return Submitted(existing, replayed=True)


def _find_replay(services: Services, owner: Owner, key: str | None, upload: StagedUpload) -> Submitted | None:
    if key is None:
        return None
    with services.db.session() as session:
        existing = repo.by_idempotency_key(session, owner.id, key)
        return _replay(existing, upload) if existing is not None else None


def _persist(
    services: Services, owner: Owner, upload: StagedUpload, info: object, key: str | None, callback: str | None
) -> Submitted:
    from framesentry.media import MediaInfo

    assert isinstance(info, MediaInfo)
    video_id = uuid.uuid4()
    storage_key = _storage_key(video_id, upload)
    services.storage.put(upload.path, storage_key)
    try:
        with services.db.transaction() as session:
            video = repo.add_video(
                session, id=video_id, owner_id=owner.id, filename=upload.filename, content_type=upload.content_type,
                size_bytes=upload.size_bytes, sha256=upload.sha256, storage_key=storage_key,
                container=info.container_format, duration_s=info.duration_s,
                width=info.video.width if info.video else None, height=info.video.height if info.video else None,
                fps=info.video.fps if info.video else None, has_video=info.has_video, has_audio=info.has_audio,
            )
            analysis = repo.add_analysis(session, video, idempotency_key=key, callback_url=callback)
            session.flush()
            session.refresh(analysis)
            accepted = to_summary(analysis)
        return Submitted(analysis, replayed=False, accepted=accepted)
    except IntegrityError:
        # Two requests with one Idempotency-Key raced; the other one won: answer with its job.
        services.storage.delete(storage_key)
        replay = _find_replay(services, owner, key, upload)
        if replay is None:
            raise
        return replay
    except BaseException:
        services.storage.delete(storage_key)
        raise


def _withdraw(services: Services, analysis_id: uuid.UUID) -> None:
    """Undo a submission whose job could not be queued."""
    with services.db.transaction() as session:
        row = repo.get(session, analysis_id)
        storage_key = repo.delete_analysis(session, row) if row is not None else None
    if storage_key:
        services.storage.delete(storage_key)


async def submit(
    services: Services,
    owner: Owner,
    *,
    content_type: str,
    content_length: int | None,
    body: AsyncIterator[bytes],
    idempotency_key: str | None,
) -> Submitted:
    settings = services.settings
    if content_length is not None and content_length > settings.max_file_bytes + MULTIPART_OVERHEAD:
        raise MediaLimitError(
            f"The upload is larger than the {settings.max_file_bytes:,}-byte limit.",
            limit_bytes=settings.max_file_bytes, content_length=content_length,
        )
    staged = services.storage.staging_path()
    try:
        upload = await receive(
            content_type, body, staged, max_bytes=settings.max_file_bytes, chunk_bytes=settings.upload_chunk_bytes
        )
    except BaseException:
        services.storage.discard(staged)
        raise
    try:
        replay = await run_in_threadpool(_find_replay, services, owner, idempotency_key, upload)
        if replay is not None:
            return replay
        raw_url = upload.fields.get("callback_url") or None
        callback = check_callback_url(raw_url, settings.webhook_allowed_networks) if raw_url else None
        named = staged.with_name(staged_name(upload.filename))
        staged.rename(named)
        upload.path = named

        from framesentry.media import probe

        info = await run_in_threadpool(probe, named, settings)
        done = await run_in_threadpool(_persist, services, owner, upload, info, idempotency_key, callback)
    finally:
        services.storage.discard(upload.path)
    if not done.replayed:
        try:
            await run_in_threadpool(services.enqueue, str(done.analysis.id))
        except BaseException:
            await run_in_threadpool(_withdraw, services, done.analysis.id)
            raise
    return done
