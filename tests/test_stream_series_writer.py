"""The live path's write-behind for the score series: batches land, and one bad stream costs only itself."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from framesentry.store import series, streams, users
from framesentry.store.db import Database
from framesentry.store.migrate import upgrade
from framesentry.store.series import ScoreRow
from framesentry.stream.series_writer import SeriesWriter


def _rows(stream_id: uuid.UUID, n: int) -> list[ScoreRow]:
    t0 = datetime.now(UTC)
    return [ScoreRow(stream_id=stream_id, ts=t0 + timedelta(seconds=i), stream_t_s=float(i), p_fake=0.1,
                     verdict="real") for i in range(n)]


def test_rows_of_a_deleted_stream_do_not_cost_the_others(tmp_path: Path) -> None:
    """A stream deleted while its rows wait in the queue: its rows are dropped and counted, the live stream's
    rows in the same flush are written (the whole batch is not lost to one foreign-key failure)."""
    db = Database(f"sqlite:///{tmp_path / 'w.db'}")
    upgrade(db.engine)
    with db.transaction() as tx:
        owner = users.ensure_user(tx, "live").id
        keep = streams.start_stream(tx, streams.create_stream_key(tx, owner, "a").row, "rtmp").id
        gone = streams.start_stream(tx, streams.create_stream_key(tx, owner, "b").row, "rtmp").id
    writer = SeriesWriter(db, flush_s=60)
    for row in _rows(keep, 5) + _rows(gone, 3):
        writer.put(row)
    with db.transaction() as tx:
        streams.end_stream(tx, gone, reason="ended")
        assert streams.delete_stream(tx, gone)
    assert writer.flush() == 5
    assert writer.stats() == {"written": 5, "dropped": 3, "failed_batches": 1, "queued": 0}
    with db.session() as s:
        assert len(series.scores_of(s, keep)) == 5
        assert series.scores_of(s, gone) == []


def test_a_full_queue_drops_new_rows_and_counts_them(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'w.db'}")
    writer = SeriesWriter(db, flush_s=60, max_rows=4)
    for row in _rows(uuid.uuid4(), 6):
        writer.put(row)
    assert writer.stats()["queued"] == 4 and writer.stats()["dropped"] == 2
