"""Write-behind for the score series: the live path enqueues, one thread writes batches to the database.

The scoring threads never wait on the database. The queue is bounded; when the database is slower than the
streams (or down), new rows are dropped and counted rather than held without limit, and a failed batch is
logged and counted, never retried into a growing backlog.
"""

from __future__ import annotations

import logging
import queue
import threading

from framesentry.store.db import Database
from framesentry.store.series import ScoreRow, append_scores

log = logging.getLogger(__name__)


class SeriesWriter:
    def __init__(self, db: Database, flush_s: float, max_rows: int = 50_000) -> None:
        self.db = db
        self.flush_s = flush_s
        self._queue: queue.Queue[ScoreRow] = queue.Queue(maxsize=max_rows)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0
        self.dropped = 0
        self.failed_batches = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="series-writer", daemon=True)
        self._thread.start()

    def put(self, row: ScoreRow) -> None:
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            self.dropped += 1

    def stop(self) -> None:
        """Flush what is queued, then stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def flush(self) -> int:
        rows: list[ScoreRow] = []
        while True:
            try:
                rows.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if not rows:
            return 0
        try:
            append_scores(self.db, rows)
        except Exception:  # e.g. a stream deleted with rows still queued: retry per stream, lose only that one
            return self._per_stream(rows)
        self.written += len(rows)
        return len(rows)

    def _per_stream(self, rows: list[ScoreRow]) -> int:
        groups: dict[object, list[ScoreRow]] = {}
        for row in rows:
            groups.setdefault(row.stream_id, []).append(row)
        written = 0
        for stream_id, group in groups.items():
            try:
                append_scores(self.db, group)
            except Exception:  # the database is down, or this stream is gone: count it, keep streaming
                self.failed_batches += 1
                self.dropped += len(group)
                log.warning("writing %d live score rows of stream %s failed", len(group), stream_id, exc_info=True)
                continue
            written += len(group)
        self.written += written
        return written

    def stats(self) -> dict[str, int]:
        return {"written": self.written, "dropped": self.dropped, "failed_batches": self.failed_batches,
                "queued": self._queue.qsize()}

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            self.flush()
        self.flush()
