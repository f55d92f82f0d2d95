"""Off the live path: turn a stream's "verdict turned Fake" frame into stored heat maps.

``LiveExplainer.submit`` is the stream hub's ``on_fake`` hook; it only queues the frame (a bounded queue on one
worker thread; when full, the frame is dropped and counted: explanations never slow scoring). The worker runs
Grad-CAM (``explain/live.py``), writes the PNGs to media storage under ``streams/<id>/explanations/`` and records
them as the stream's artifacts, at the name the verdict-change event already links to.
"""

from __future__ import annotations

import logging
import queue
import tempfile
import threading
from pathlib import Path

from framesentry.inference.detectors import Detectors
from framesentry.store import explanations as xrepo
from framesentry.store.db import Database
from framesentry.store.storage import MediaStorage
from framesentry.stream.hooks import FakeFrame

log = logging.getLogger(__name__)
QUEUE = 8


class LiveExplainer:
    def __init__(self, detectors: Detectors, db: Database, storage: MediaStorage) -> None:
        self.detectors, self.db, self.storage = detectors, db, storage
        self._queue: queue.Queue[FakeFrame | None] = queue.Queue(QUEUE)
        self.dropped = 0
        self.done = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="live-explainer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def submit(self, work: FakeFrame) -> None:
        """The hook: never blocks the live path."""
        try:
            self._queue.put_nowait(work)
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        while (work := self._queue.get()) is not None:
            try:
                self.explain(work)
                self.done += 1
            except Exception:
                log.exception("live explanation of stream %s failed", work.stream_id)

    def explain(self, work: FakeFrame) -> None:
        from framesentry.explain.live import explain_frame

        frame_png, crop_pngs, facts = explain_frame(self.detectors, work.rgb, work.boxes)
        stem = work.artifact.removesuffix("_frame.png")
        files = {work.artifact: frame_png, **{f"{stem}_face{i}_crop.png": b for i, b in enumerate(crop_pngs)}}
        with tempfile.TemporaryDirectory(prefix="framesentry-live-explain-") as tmp:
            keys = {}
            for name, data in files.items():
                staged = Path(tmp) / name
                staged.write_bytes(data)
                keys[name] = f"streams/{work.stream_id}/explanations/{name}"
                self.storage.put(staged, keys[name])
        with self.db.transaction() as session:
            for name, key in keys.items():
                xrepo.add_artifact(session, name, "image/png", key, stream_id=work.stream_id,
                                   data={"stream_t_s": round(work.t_s, 3), "p_fake": work.p_fake,
                                         "boxes": [list(b) for b in work.boxes], **facts})
