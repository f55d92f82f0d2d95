"""Dynamic batching shared by the live and upload paths: items from many callers, one forward per batch.

A batch closes when ``max_batch`` items wait or the oldest has waited ``max_wait_ms`` (DeepStream's stream
muxer: a batch size and a timeout). Items arrive in one of two lanes: ``live`` (latency matters) and ``bulk``
(uploads: throughput matters). Each lane has its own queue and its own worker thread, so a live window never
waits behind an upload's batch; the bulk worker runs at a lower OS scheduling priority (``bulk_nice``) and, while
live items keep arriving, rests after each batch so that it takes at most ``bulk_share_when_live`` of the time
(a runtime's own thread pools do not inherit the lower priority).

Each lane's queue is bounded: past ``max_pending`` waiting items ``submit`` raises ``BackpressureError`` at
once, so a caller that cannot keep up sheds load instead of building lag (Frigate's two-frame queue). A
watchdog fails a batch whose call runs past ``stuck_after_s``, abandons the stuck worker thread, starts a new
one and, given ``restart``, rebuilds ``fn`` first. An exception in ``fn`` fails only the futures of that batch.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar, get_args

from framesentry.errors import BackpressureError, BatcherStoppedError, EngineStuckError, ModelError
from framesentry.obs.metrics import observe_batch

T = TypeVar("T")
R = TypeVar("R")
Lane = Literal["live", "bulk"]
LANES: tuple[Lane, ...] = get_args(Lane)

log = logging.getLogger(__name__)


def lower_thread_priority(nice: int) -> bool:
    """Raise the calling thread's nice value by ``nice`` (Linux schedules threads one by one); threads it
    starts afterwards (e.g. a runtime's worker pool) inherit it. Best effort: False where unsupported."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return False
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + nice))
    except OSError:
        return False
    return True


@dataclass
class _Pending(Generic[T, R]):
    item: T
    future: concurrent.futures.Future[R]
    enqueued: float


@dataclass
class _Call(Generic[T, R]):
    """The batch a lane's worker is running now: the watchdog's view of it."""

    generation: int
    started: float
    batch: list[_Pending[T, R]]


class DynamicBatcher(Generic[T, R]):
    """Collects ``submit``-ted items into batches for ``fn`` (list in, one result per item out, same order).

    ``fn`` may run for both lanes at once, from two threads: it must be safe to call concurrently (the scoring
    core is: its models keep no state between calls)."""

    def __init__(
        self,
        fn: Callable[[list[T]], Sequence[R]],
        *,
        name: str,
        max_batch: int,
        max_wait_ms: float,
        max_pending: int,
        stuck_after_s: float | None = None,
        restart: Callable[[], Callable[[list[T]], Sequence[R]]] | None = None,
        bulk_nice: int = 10,
        bulk_share_when_live: float = 0.25,
        live_quiet_s: float = 2.0,
    ) -> None:
        if max_batch < 1 or max_pending < 1 or max_wait_ms < 0:
            raise ValueError("max_batch and max_pending must be >= 1 and max_wait_ms >= 0")
        if stuck_after_s is not None and stuck_after_s <= 0:
            raise ValueError("stuck_after_s must be positive")
        self.name = name
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_pending = max_pending
        self.stuck_after_s = stuck_after_s
        self.bulk_nice = bulk_nice
        self.bulk_share_when_live = min(1.0, max(0.01, bulk_share_when_live))
        self.live_quiet_s = live_quiet_s
        self._last_live = float("-inf")
        self._fn = fn
        self._restart = restart
        self._queues: dict[Lane, deque[_Pending[T, R]]] = {lane: deque() for lane in LANES}
        self._cond = threading.Condition()
        self._running = False
        self._generation: dict[Lane, int] = dict.fromkeys(LANES, 0)
        self._calls: dict[Lane, _Call[T, R] | None] = dict.fromkeys(LANES)
        self._needs_rebuild = False
        self._watchdog: threading.Thread | None = None
        self._stats = {"batches": 0, "items": 0, "max_batch_seen": 0, "rejected": 0, "restarts": 0,
                       "failed_batches": 0, "restart_failures": 0, "items_live": 0, "items_bulk": 0,
                       "batches_bulk": 0}
        self._last_batch_ms = 0.0

    # --- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start one worker per lane (and the watchdog when ``stuck_after_s`` is set); daemon threads."""
        with self._cond:
            if self._running:
                return
            self._running = True
            for lane in LANES:
                self._spawn_worker(lane)
            if self.stuck_after_s is not None:
                self._watchdog = threading.Thread(target=self._watch, name=f"{self.name}-watchdog", daemon=True)
                self._watchdog.start()

    def stop(self) -> None:
        """Stop the threads; every item not yet finished fails with ``BatcherStoppedError``."""
        with self._cond:
            self._running = False
            pending = [p for q in self._queues.values() for p in q]
            for lane in LANES:
                self._generation[lane] += 1  # a worker mid-call will find itself retired
                self._queues[lane].clear()
                call = self._calls[lane]
                if call is not None:
                    pending.extend(call.batch)
                    self._calls[lane] = None
            self._cond.notify_all()
        error = BatcherStoppedError(f"batcher {self.name} stopped before this item ran")
        for p in pending:
            _fail(p.future, error)
        if self._watchdog is not None:
            self._watchdog.join(timeout=1.0)

    # --- callers -------------------------------------------------------------------------------------------
    def submit(self, item: T, lane: Lane = "live") -> concurrent.futures.Future[R]:
        """Queue one item in a lane; its future resolves to ``fn``'s result for it. ``BackpressureError`` when
        that lane already holds ``max_pending`` items."""
        future: concurrent.futures.Future[R] = concurrent.futures.Future()
        with self._cond:
            if not self._running:
                raise BatcherStoppedError(f"batcher {self.name} is not running")
            queue = self._queues[lane]
            if len(queue) >= self.max_pending:
                self._stats["rejected"] += 1
                raise BackpressureError(
                    f"{self.name} is overloaded: {len(queue)} {lane} items already wait", batcher=self.name,
                    pending=len(queue), lane=lane,
                )
            now = time.monotonic()
            if lane == "live":
                self._last_live = now
            queue.append(_Pending(item, future, now))
            self._cond.notify_all()
        return future

    def stats(self) -> dict[str, float | int]:
        """Counters: batches, items (and per lane), mean_batch, max_batch_seen, rejected, restarts, pending,
        last_batch_ms."""
        with self._cond:
            out: dict[str, float | int] = dict(self._stats)
            out["mean_batch"] = self._stats["items"] / self._stats["batches"] if self._stats["batches"] else 0.0
            out["pending"] = sum(len(q) for q in self._queues.values())
            out["last_batch_ms"] = self._last_batch_ms
            return out

    # --- workers -------------------------------------------------------------------------------------------
    def _spawn_worker(self, lane: Lane) -> None:
        """(Re)start a lane's worker for its current generation; call with the lock held."""
        thread = threading.Thread(target=self._work, args=(lane, self._generation[lane]),
                                  name=f"{self.name}-{lane}-worker", daemon=True)
        thread.start()

    def _next_batch(self, lane: Lane, generation: int) -> list[_Pending[T, R]] | None:
        """Wait until a batch of this lane is due; ``None`` when this worker is retired or the batcher stopped."""
        queue = self._queues[lane]
        with self._cond:
            while True:
                if not self._running or generation != self._generation[lane]:
                    return None
                if queue:
                    due = queue[0].enqueued + self.max_wait_s
                    now = time.monotonic()
                    if len(queue) >= self.max_batch or now >= due:
                        break
                    self._cond.wait(timeout=due - now)
                else:
                    self._cond.wait()
            batch: list[_Pending[T, R]] = []
            while queue and len(batch) < self.max_batch:
                p = queue.popleft()
                if p.future.set_running_or_notify_cancel():  # skip items their caller cancelled
                    batch.append(p)
            self._stats[f"items_{lane}"] += len(batch)
            self._stats["batches_bulk"] += lane == "bulk"
            # Only a batch that will run is watched: one whose items were all cancelled never reaches _run, which
            # is what clears it (a watched empty batch was failed as "stuck" 30 s later, the worker replaced).
            self._calls[lane] = _Call(generation, time.monotonic(), batch) if batch else None
            return batch

    def _work(self, lane: Lane, generation: int) -> None:
        if lane == "bulk":
            lower_thread_priority(self.bulk_nice)
        self._rebuild_if_needed(generation, lane)
        while (batch := self._next_batch(lane, generation)) is not None:
            if batch:
                started = time.monotonic()
                self._run(lane, generation, batch)
                if lane == "bulk":
                    self._yield_to_live(time.monotonic() - started)

    def _yield_to_live(self, spent_s: float) -> None:
        """While live work is about, the bulk lane rests after each batch so that it takes at most
        ``bulk_share_when_live`` of the time: OS priority alone does not hold back a runtime's own threads."""
        if time.monotonic() - self._last_live < self.live_quiet_s:
            time.sleep(min(2.0, spent_s * (1.0 / self.bulk_share_when_live - 1.0)))

    def _rebuild_if_needed(self, generation: int, lane: Lane) -> None:
        """A replacement worker rebuilds ``fn`` from ``restart`` before serving; keeps the old one if that fails."""
        with self._cond:
            rebuild = self._needs_rebuild and self._restart is not None
            self._needs_rebuild = False
        if not rebuild:
            return
        assert self._restart is not None
        try:
            fn = self._restart()
        except Exception:
            log.exception("batcher %s: restart() failed; keeping the previous function", self.name)
            with self._cond:
                self._stats["restart_failures"] += 1
            return
        with self._cond:
            if generation == self._generation[lane]:
                self._fn = fn

    def _run(self, lane: Lane, generation: int, batch: list[_Pending[T, R]]) -> None:
        fn = self._fn
        t0 = time.perf_counter()
        try:
            results = fn([p.item for p in batch])
            if len(results) != len(batch):
                raise ModelError(f"{self.name}: fn returned {len(results)} results for {len(batch)} items")
            error: BaseException | None = None
        except Exception as exc:  # the batch's callers get the error; the worker keeps serving
            error = exc
        elapsed_ms = (time.perf_counter() - t0) * 1000.0
        observe_batch(self.name, len(batch), elapsed_ms / 1000.0)
        with self._cond:
            if generation != self._generation[lane]:
                return  # the watchdog already failed this batch and replaced this worker
            self._calls[lane] = None
            self._last_batch_ms = elapsed_ms
            self._stats["batches"] += 1
            self._stats["items"] += len(batch)
            self._stats["max_batch_seen"] = max(self._stats["max_batch_seen"], len(batch))
            if error is not None:
                self._stats["failed_batches"] += 1
        for i, p in enumerate(batch):
            if error is not None:
                _fail(p.future, error)
            elif not p.future.done():
                p.future.set_result(results[i])

    # --- watchdog ------------------------------------------------------------------------------------------
    def _watch(self) -> None:
        assert self.stuck_after_s is not None
        interval = min(0.05, self.stuck_after_s / 4)
        while True:
            stuck: list[_Call[T, R]] = []
            with self._cond:
                if not self._running:
                    return
                for lane in LANES:
                    call = self._calls[lane]
                    if call is not None and time.monotonic() - call.started > self.stuck_after_s:
                        stuck.append(call)
                        self._generation[lane] += 1
                        self._calls[lane] = None
                        self._stats["restarts"] += 1
                        self._stats["failed_batches"] += 1
                        self._needs_rebuild = True
                        self._spawn_worker(lane)
            for call in stuck:
                log.error("batcher %s: a call ran past %.3g s; failed its %d items, replaced the worker",
                          self.name, self.stuck_after_s, len(call.batch))
                error = EngineStuckError(
                    f"{self.name}: the forward pass ran longer than {self.stuck_after_s:g} s; the worker was replaced",
                    batcher=self.name,
                )
                for p in call.batch:
                    _fail(p.future, error)
            time.sleep(interval)


def _fail(future: concurrent.futures.Future[R], error: BaseException) -> None:
    """Fail a future unless it already finished (a late result or a cancel wins the race harmlessly)."""
    if future.done():
        return
    try:
        if not future.running():
            future.set_running_or_notify_cancel()
        future.set_exception(error)
    except concurrent.futures.InvalidStateError:
        pass
