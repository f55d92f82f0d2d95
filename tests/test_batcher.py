"""DynamicBatcher: batches close on size or on the oldest item's wait, backpressure refuses instead of
queueing, one failing call fails only its batch, the watchdog replaces a stuck worker (rebuilding ``fn``),
and stop() fails what is left. Real threads and real (small) timings."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence

import pytest

from framesentry.engines.batcher import DynamicBatcher
from framesentry.errors import BackpressureError, BatcherStoppedError, EngineStuckError, ModelError


class Recorder:
    """``fn`` that doubles its inputs and records each batch it was given."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.delay_s = delay_s

    def __call__(self, items: list[int]) -> Sequence[int]:
        self.batches.append(list(items))
        if self.delay_s:
            time.sleep(self.delay_s)
        return [2 * i for i in items]


@pytest.fixture
def stopping() -> Iterator[list[DynamicBatcher]]:
    made: list[DynamicBatcher] = []
    yield made
    for b in made:
        b.stop()


def started(made: list[DynamicBatcher], fn, **kw) -> DynamicBatcher:  # type: ignore[no-untyped-def]
    options = {"name": "test", "max_batch": 4, "max_wait_ms": 1000.0, "max_pending": 64, **kw}
    b: DynamicBatcher = DynamicBatcher(fn, **options)
    b.start()
    made.append(b)
    return b


def test_batch_closes_when_full_without_waiting(stopping: list[DynamicBatcher]) -> None:
    """8 items, max_batch 4, max_wait 1 s: two full batches, done long before the wait would expire."""
    fn = Recorder()
    b = started(stopping, fn)
    t0 = time.monotonic()
    futures = [b.submit(i) for i in range(8)]
    assert [f.result(timeout=2) for f in futures] == [2 * i for i in range(8)]
    assert time.monotonic() - t0 < 0.5
    assert sorted(len(batch) for batch in fn.batches) == [4, 4]
    stats = b.stats()
    assert (stats["batches"], stats["items"], stats["max_batch_seen"], stats["mean_batch"]) == (2, 8, 4, 4.0)


def test_partial_batch_closes_after_max_wait(stopping: list[DynamicBatcher]) -> None:
    """One item alone waits max_wait_ms (40 ms), then runs as a batch of one."""
    fn = Recorder()
    b = started(stopping, fn, max_wait_ms=40.0)
    t0 = time.monotonic()
    assert b.submit(5).result(timeout=2) == 10
    waited = time.monotonic() - t0
    assert 0.035 <= waited < 0.5, waited
    assert fn.batches == [[5]]


def test_items_from_many_threads_share_batches(stopping: list[DynamicBatcher]) -> None:
    """16 concurrent callers each get their own result; they were served in fewer than 16 calls."""
    fn = Recorder(delay_s=0.01)
    b = started(stopping, fn, max_batch=8, max_wait_ms=20.0)
    results: dict[int, int] = {}
    barrier = threading.Barrier(16)

    def caller(i: int) -> None:
        barrier.wait()
        results[i] = b.submit(i).result(timeout=5)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: 2 * i for i in range(16)}
    assert len(fn.batches) < 16 and b.stats()["mean_batch"] > 1


def test_backpressure_refuses_past_max_pending(stopping: list[DynamicBatcher]) -> None:
    """With the worker busy, max_pending=2 items may wait; the third is refused at once (503 'overloaded')."""
    release = threading.Event()

    def blocked(items: list[int]) -> list[int]:
        release.wait(5)
        return items

    b = started(stopping, blocked, max_batch=1, max_wait_ms=0.0, max_pending=2)
    first = b.submit(0)
    deadline = time.monotonic() + 2
    while b.stats()["pending"] and time.monotonic() < deadline:  # the worker takes item 0 into its call
        time.sleep(0.005)
    waiting = [b.submit(1), b.submit(2)]
    with pytest.raises(BackpressureError) as info:
        b.submit(3)
    assert (info.value.code, info.value.http_status) == ("overloaded", 503)
    assert b.stats()["rejected"] == 1 and b.stats()["pending"] == 2
    release.set()
    assert [f.result(timeout=2) for f in [first, *waiting]] == [0, 1, 2]


def test_exception_fails_only_its_batch(stopping: list[DynamicBatcher]) -> None:
    def picky(items: list[int]) -> list[int]:
        if any(i < 0 for i in items):
            raise ValueError("negative input")
        return items

    b = started(stopping, picky, max_batch=2)
    bad = [b.submit(-1), b.submit(1)]
    good = [b.submit(2), b.submit(3)]
    for f in bad:
        with pytest.raises(ValueError, match="negative input"):
            f.result(timeout=2)
    assert [f.result(timeout=2) for f in good] == [2, 3]
    assert b.stats()["failed_batches"] == 1 and b.stats()["batches"] == 2


def test_wrong_number_of_results_is_a_model_error(stopping: list[DynamicBatcher]) -> None:
    b = started(stopping, lambda items: items[:-1], max_batch=2)
    futures = [b.submit(1), b.submit(2)]
    with pytest.raises(ModelError, match="returned 1 results for 2 items"):
        futures[0].result(timeout=2)


def test_watchdog_replaces_a_stuck_worker_and_rebuilds_fn(stopping: list[DynamicBatcher]) -> None:
    """A call past stuck_after_s (0.1 s) fails its batch with EngineStuckError long before it returns; a new
    worker serves the next item with the fn rebuilt by ``restart``; the stuck call's late result is dropped."""
    unblock = threading.Event()
    rebuilt = threading.Event()

    def hangs_on_slow(items: list[str]) -> list[str]:
        if "slow" in items:
            unblock.wait(5)
        return [f"old:{i}" for i in items]

    def restart():  # type: ignore[no-untyped-def]
        rebuilt.set()
        return lambda items: [f"new:{i}" for i in items]

    b = started(stopping, hangs_on_slow, max_batch=1, max_wait_ms=0.0, stuck_after_s=0.1, restart=restart)
    t0 = time.monotonic()
    stuck = b.submit("slow")
    with pytest.raises(EngineStuckError, match=r"longer than 0\.1 s"):
        stuck.result(timeout=2)
    assert time.monotonic() - t0 < 1.0
    assert b.submit("next").result(timeout=2) == "new:next"
    assert rebuilt.is_set() and b.stats()["restarts"] == 1
    unblock.set()  # the abandoned call finishes now; its result must not resurface anywhere
    time.sleep(0.05)
    with pytest.raises(EngineStuckError):
        stuck.result(timeout=0)
    assert b.submit("again").result(timeout=2) == "new:again"
    assert b.stats()["restarts"] == 1


def test_watchdog_without_restart_keeps_fn(stopping: list[DynamicBatcher]) -> None:
    gate = threading.Event()

    def fn(items: list[float]) -> list[float]:
        for i in items:
            if i > 0:
                gate.wait(i)
        return items

    b = started(stopping, fn, max_batch=1, max_wait_ms=0.0, stuck_after_s=0.05)
    with pytest.raises(EngineStuckError):
        b.submit(2.0).result(timeout=2)
    assert b.submit(0.0).result(timeout=2) == 0.0
    gate.set()


def test_a_batch_of_cancelled_items_is_not_taken_for_stuck(stopping: list[DynamicBatcher]) -> None:
    """An upload that stops cancels what it queued; the batch those items would have formed never runs, and the
    watchdog must not fail it as stuck and replace the worker."""
    recorder = Recorder()
    b = started(stopping, recorder, max_batch=4, max_wait_ms=50.0, stuck_after_s=0.2)
    futures = [b.submit(i, "bulk") for i in range(3)]
    assert all(f.cancel() for f in futures)  # before the batch closes (50 ms)
    time.sleep(0.5)
    assert b.stats()["restarts"] == 0
    assert b.submit(5, "bulk").result(timeout=2) == 10
    assert recorder.batches == [[5]]


def test_stop_fails_pending_and_refuses_new_items() -> None:
    release = threading.Event()
    b: DynamicBatcher[int, int] = DynamicBatcher(
        lambda items: (release.wait(5), items)[1], name="stopper", max_batch=1, max_wait_ms=0.0, max_pending=8
    )
    b.start()
    futures = [b.submit(i) for i in range(3)]
    time.sleep(0.05)
    b.stop()
    release.set()
    for f in futures:
        with pytest.raises(BatcherStoppedError):
            f.result(timeout=2)
    with pytest.raises(BatcherStoppedError):
        b.submit(9)
    assert set(b.stats()) >= {"batches", "items", "mean_batch", "max_batch_seen", "rejected", "restarts",
                              "pending", "last_batch_ms"}


def test_live_work_never_waits_behind_bulk_work(stopping: list[DynamicBatcher]) -> None:
    """A bulk (upload) batch that is still running does not hold up live items: each lane has its own worker,
    and the bulk one runs at a lower scheduling priority (higher nice value) than the live one."""
    gate = threading.Event()
    seen: dict[str, int] = {}

    def fn(items: list[int]) -> Sequence[int]:
        lane = "bulk" if items[0] < 1000 else "live"
        seen[lane] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        if lane == "bulk":
            gate.wait(5)
        return [2 * i for i in items]

    b = started(stopping, fn, max_wait_ms=0.0, bulk_nice=5)
    bulk = [b.submit(i, "bulk") for i in range(1, 4)]
    time.sleep(0.05)
    t0 = time.monotonic()
    live = [b.submit(1000 + i, "live") for i in range(3)]
    assert [f.result(timeout=2) for f in live] == [2000, 2002, 2004]
    assert time.monotonic() - t0 < 1.0 and not any(f.done() for f in bulk)  # live overtook the running bulk batch
    gate.set()
    assert [f.result(timeout=2) for f in bulk] == [2, 4, 6]
    assert seen["bulk"] >= seen["live"] + 5 or seen["bulk"] == 19
    stats = b.stats()
    assert (stats["items_live"], stats["items_bulk"]) == (3, 3)


def test_each_lane_has_its_own_bound(stopping: list[DynamicBatcher]) -> None:
    """A full bulk lane refuses more bulk work, but live work is still taken."""
    gate = threading.Event()
    def fn(items: list[int]) -> Sequence[int]:
        if items[0] < 4:  # bulk items wait for the gate
            gate.wait(2)
        return [2 * i for i in items]

    b = started(stopping, fn, max_pending=2, max_wait_ms=0.0)
    b.submit(0, "bulk")
    time.sleep(0.05)
    b.submit(1, "bulk"), b.submit(2, "bulk")
    with pytest.raises(BackpressureError):
        b.submit(3, "bulk")
    live = b.submit(4, "live")
    assert live.result(timeout=1) == 8  # the gate is still shut: the live worker is not the bulk one
    gate.set()
