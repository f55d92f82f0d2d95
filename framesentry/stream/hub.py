"""The live side of the server: stream keys -> sessions, the shared scorer, fan-out, series and ingest.

``open_sink`` is the ``SinkOpener`` both ingest protocols call when a publisher arrives: it checks the key,
records the stream and returns its ``LiveSession``. Everything that touches the database from the live path
(stream rows, heartbeats, the score series) runs on a background thread, never on the event loop's hot path
or a scoring thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from framesentry.config import Settings
from framesentry.errors import AuthError, NotFoundError, ServiceUnavailableError
from framesentry.inference.batching import BatchedScorer
from framesentry.store import streams as stream_repo
from framesentry.store.db import Database
from framesentry.store.models import utcnow
from framesentry.store.series import ScoreRow
from framesentry.stream.fanout import Broadcaster, Subscription
from framesentry.stream.hooks import OnFake
from framesentry.stream.messages import ScoreMessage
from framesentry.stream.series_writer import SeriesWriter
from framesentry.stream.session import LiveSession

log = logging.getLogger(__name__)
HEARTBEAT_S = 2.0
KEEP_ENDED = 256  # ended sessions kept in memory so late WebSocket clients still get the final message


class LiveHub:
    def __init__(self, settings: Settings, db: Database, scorer: BatchedScorer,
                 *, ingest: bool = True, on_fake: OnFake | None = None) -> None:
        self.settings = settings
        self.on_fake = on_fake  # EXPLAIN HOOK: handed to every session (stream/hooks.py)
        self.db = db
        self.scorer = scorer  # the process's shared queues; its owner (``api.services``) stops it
        self.series = SeriesWriter(db, settings.live_series_flush_s)
        self.ingest = ingest
        self.sessions: dict[uuid.UUID, LiveSession] = {}
        self._broadcasters: dict[uuid.UUID, Broadcaster] = {}
        self._ended: list[uuid.UUID] = []
        self._lock = threading.Lock()
        self._open_lock = threading.Lock()  # one publisher at a time through open_sink: check + register
        self._stopping = False
        self._db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-db")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self.rtmp: Any = None
        self.whip: Any = None

    # --- lifecycle ---------------------------------------------------------------------------------------

    async def start(self, *, warm_up: bool = True) -> None:
        self._loop = asyncio.get_running_loop()
        self.scorer.start()
        if warm_up:
            await self._loop.run_in_executor(None, self.scorer.warm_up)
        self.series.start()
        await self._loop.run_in_executor(self._db_thread, self._fail_leftovers)
        self._heartbeat = asyncio.create_task(self._beat())
        if self.ingest:
            from framesentry.stream.rtmp_server import RtmpServer
            from framesentry.stream.whip import WhipHub

            self.rtmp = RtmpServer(self.settings, self.open_sink)
            await self.rtmp.start()
            self.whip = WhipHub(self.settings, self.open_sink)

    async def stop(self) -> None:
        self._stopping = True
        if self.whip is not None:
            await self.whip.close_all()
        if self.rtmp is not None:
            await self.rtmp.stop()
        for session in list(self.sessions.values()):
            session.close("server_shutdown")
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.series.stop)  # flushes what is queued
        await loop.run_in_executor(None, lambda: self._db_thread.shutdown(wait=True))

    # --- SinkOpener -------------------------------------------------------------------------------------

    def open_sink(self, key: str, source: str) -> LiveSession:
        """Check the key and open a session; a publisher reconnecting on its key replaces its old session.

        Called by the ingest protocols off the event loop (it queries the database). Serialised, so the
        stream limit and the one-session-per-key rule hold when publishers arrive together."""
        with self._open_lock:
            return self._open(key, source)

    def _open(self, key: str, source: str) -> LiveSession:
        if self._loop is None or self._stopping:
            raise ServiceUnavailableError("live detection is not running on this server")
        with self.db.transaction() as tx:
            key_row = stream_repo.resolve_stream_key(tx, key)
            if key_row is None:
                raise AuthError("Unknown or revoked stream key.")
            with self._lock:
                live = [s for s in self.sessions.values() if s.live]
                old = next((s for s in live if s.key_id == key_row.id), None)
                if old is None and len(live) >= self.settings.live_max_streams:
                    raise ServiceUnavailableError(
                        f"this server already takes {len(live)} live streams (FRAMESENTRY_LIVE_MAX_STREAMS)"
                    )
            if old is not None:  # its final numbers, before start_stream's takeover ends its row
                stream_repo.end_stream(tx, old.id, reason="replaced", **old.totals())
            row = stream_repo.start_stream(tx, key_row, source, takeover=True)
            stream_id, key_id = row.id, key_row.id
        if old is not None:
            old.close("replaced")
        session = LiveSession(
            self.settings, self.scorer, stream_id=stream_id, key_id=key_id, source=source,
            emit=self._emit, on_close=self._closed, on_fake=self.on_fake,
        )
        broadcaster = Broadcaster(self._loop, self.settings.live_client_queue)
        with self._lock:
            self.sessions[stream_id] = session
            self._broadcasters[stream_id] = broadcaster
        log.info("live stream %s opened (%s, key %s)", stream_id, source, key_id)
        return session

    # --- clients -------------------------------------------------------------------------------------

    def subscribe(self, stream_id: uuid.UUID) -> tuple[Broadcaster, Subscription]:
        """Call on the event loop. ``NotFoundError`` for a stream this server has not seen."""
        with self._lock:
            broadcaster = self._broadcasters.get(stream_id)
        if broadcaster is None:
            raise NotFoundError(f"stream {stream_id} is not live on this server", stream_id=str(stream_id))
        return broadcaster, broadcaster.subscribe()

    def stop_stream(self, stream_id: uuid.UUID) -> bool:
        session = self.sessions.get(stream_id)
        if session is None or not session.live:
            return False
        session.stop("stopped_by_api")
        return True

    # --- callbacks from sessions (scoring / ingest threads) --------------------------------------------

    def _emit(self, session: LiveSession, message: ScoreMessage) -> None:
        broadcaster = self._broadcasters.get(session.id)
        if broadcaster is not None:
            broadcaster.publish(message.to_json())
        if message.p_fake_window is not None:
            self.series.put(ScoreRow(
                stream_id=session.id, ts=message.server_time, stream_t_s=message.stream_t_s,
                p_fake=message.p_fake_window, verdict=message.verdict.value, visual_p=message.visual.p_fake,
                audio_p=message.audio.p_fake, latency_ms=message.latency_ms,
            ))

    def _closed(self, session: LiveSession, reason: str) -> None:
        log.info("live stream %s closed: %s", session.id, reason)
        broadcaster = self._broadcasters.get(session.id)
        if broadcaster is not None:
            broadcaster.close()
        failed = reason.startswith("error")
        totals = session.totals()
        try:
            self._db_thread.submit(self._end_row, session.id, reason, failed, totals)
        except RuntimeError:  # shutting down: the writer thread is gone, record it here
            self._end_row(session.id, reason, failed, totals)
        with self._lock:
            self._ended.append(session.id)
            while len(self._ended) > KEEP_ENDED:
                old = self._ended.pop(0)
                self.sessions.pop(old, None)
                self._broadcasters.pop(old, None)

    # --- database side (on the live-db thread) -------------------------------------------------------

    def _end_row(self, stream_id: uuid.UUID, reason: str, failed: bool, totals: dict[str, Any]) -> None:
        try:
            with self.db.transaction() as tx:
                stream_repo.end_stream(tx, stream_id, reason=reason, failed=failed, **totals)
        except Exception:
            log.exception("could not record the end of stream %s", stream_id)

    def _refresh_rows(self) -> None:
        """Heartbeat of this server's live rows, then the sweep of rows no server refreshes any more."""
        live = [s for s in list(self.sessions.values()) if s.live]
        try:
            with self.db.transaction() as tx:
                for s in live:
                    stream_repo.update_stream(tx, s.id, **s.totals())
            self._fail_leftovers()
        except Exception:
            log.exception("live heartbeat failed")

    def _fail_leftovers(self) -> None:
        """Streams still 'live' in the database but not refreshed for 5 heartbeats belong to a server that died
        (every live server refreshes its rows every HEARTBEAT_S); they cannot be live any more."""
        with self.db.transaction() as tx:
            stream_repo.fail_stale_streams(tx, utcnow() - timedelta(seconds=5 * HEARTBEAT_S), reason="server_restarted")

    async def _beat(self) -> None:
        assert self._loop is not None
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            await self._loop.run_in_executor(self._db_thread, self._refresh_rows)
