"""The live path's pure parts: sampling by stream time, verdict hysteresis, bounded hand-off, fan-out."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future

import pytest

from framesentry.errors import BackpressureError
from framesentry.inference.result import Verdict
from framesentry.media.sampling import FrameSampler
from framesentry.stream.admission import Admission
from framesentry.stream.fanout import Broadcaster
from framesentry.stream.hysteresis import VerdictSmoother


def test_sampler_keeps_one_frame_per_instant() -> None:
    """30 fps for 3 s at 2 fps keeps exactly the frames at 0, 0.5, ... 2.5 s."""
    sampler = FrameSampler(2.0)
    kept = [i / 30 for i in range(90) if sampler.keep(i / 30)]
    assert kept == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.5], abs=1 / 30)


def test_sampler_reanchors_after_a_clock_jump() -> None:
    """A publisher restarting its clock (big jump either way) does not cause a burst or a long silence."""
    sampler = FrameSampler(2.0, max_gap_s=5.0)
    assert sampler.keep(100.0)
    assert not sampler.keep(100.1)
    assert sampler.keep(3.0)  # clock went back by 97 s: keep and re-anchor
    assert not sampler.keep(3.2)
    assert sampler.keep(3.5)
    assert sampler.keep(500.0)  # forward jump
    assert [sampler.keep(500.0 + i / 30) for i in range(1, 16)].count(True) == 1


def _smoother(dwell: int = 3) -> VerdictSmoother:
    return VerdictSmoother(real_threshold=0.3, fake_threshold=0.7, alpha=0.5, dwell=dwell)


def test_hysteresis_needs_a_dwell_before_changing() -> None:
    """One spike does not flip the verdict; a sustained run does, and the change is reported once."""
    s = _smoother(dwell=3)
    for t in range(5):
        s.update(0.05, t)
    assert s.state is Verdict.REAL
    out = s.update(0.99, 5.0)  # EMA 0.52: uncertain, first of the streak
    assert out.verdict is Verdict.REAL and out.change is None
    s.update(0.05, 6.0)  # back down: the streak resets
    changes = [s.update(0.99, 7.0 + i).change for i in range(6)]
    fired = [c for c in changes if c is not None]
    # EMA 0.64 (uncertain, streak 1), then 0.82, 0.91, 0.95 (fake x3): one change, straight to Fake.
    assert [(c.previous, c.verdict) for c in fired] == [(Verdict.REAL, Verdict.FAKE)]
    assert changes.index(fired[0]) == 3
    assert s.state is Verdict.FAKE


def test_hysteresis_ignores_alternating_noise() -> None:
    """A score alternating around a threshold never changes the verdict (no flicker)."""
    s = _smoother(dwell=2)
    for i in range(40):
        out = s.update(0.9 if i % 2 else 0.1, float(i))
        assert out.change is None
    assert s.state is Verdict.UNCERTAIN


class _Manual:
    """A batcher stand-in whose futures the test completes by hand (to control ordering exactly)."""

    def __init__(self, full_after: int | None = None) -> None:
        self.futures: list[tuple[int, Future[int]]] = []
        self.full_after = full_after

    def submit(self, item: int) -> Future[int]:
        if self.full_after is not None and len(self.futures) >= self.full_after:
            raise BackpressureError("full")
        fut: Future[int] = Future()
        self.futures.append((item, fut))
        return fut


def test_admission_drops_the_oldest_waiting_work() -> None:
    """With 2 in flight, later items replace the one held back; results come back in order."""
    batcher = _Manual()
    results: list[int] = []
    adm = Admission[int, int](batcher.submit, lambda item, r: results.append(r), lambda i, e: None, max_inflight=2)
    for i in range(6):
        adm.offer(i)
    assert [i for i, _ in batcher.futures] == [0, 1]
    assert adm.dropped == 3  # 2, 3, 4 were each replaced by a newer one; 5 is held
    batcher.futures[0][1].set_result(0)
    assert [i for i, _ in batcher.futures] == [0, 1, 5]
    for item, fut in batcher.futures[1:]:
        fut.set_result(item)
    assert results == [0, 1, 5]
    assert adm.inflight == 0


def test_admission_counts_backpressure_as_drops() -> None:
    batcher = _Manual(full_after=1)
    adm = Admission[int, int](batcher.submit, lambda i, r: None, lambda i, e: None, max_inflight=4)
    adm.offer(0)
    adm.offer(1)
    assert adm.dropped == 1 and adm.inflight == 1


def test_fanout_slow_client_gets_newest_and_never_blocks() -> None:
    """A client that reads nothing keeps only the newest messages; publishing from a thread never waits."""

    async def scenario() -> tuple[list[int], int, float, list[int]]:
        loop = asyncio.get_running_loop()
        hub = Broadcaster(loop, client_queue=4)
        slow, fast = hub.subscribe(), hub.subscribe()
        got_fast: list[int] = []

        async def read_fast() -> None:
            while (m := await fast.get()) is not None:
                got_fast.append(m["seq"])

        reader = asyncio.create_task(read_fast())

        def produce() -> None:
            for seq in range(1, 201):
                hub.publish({"seq": seq})
                time.sleep(0.0005)
            hub.close()

        t0 = time.perf_counter()
        thread = threading.Thread(target=produce)
        thread.start()
        while thread.is_alive():
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - t0
        await reader
        queued = []
        while (m := await slow.get()) is not None:
            queued.append(m["seq"])
        return queued, slow.dropped, elapsed, got_fast

    queued, dropped, elapsed, got_fast = asyncio.run(scenario())
    assert queued == [198, 199, 200]  # room for 4: the three newest, then the end marker
    assert dropped == 197
    # A client that keeps up gets the stream in order and ends on the newest; it may lose a few only when
    # the loop itself is starved (a loaded CI machine delivers bursts of more than its 4-message queue).
    assert got_fast == sorted(set(got_fast)) and got_fast[-1] == 200 and len(got_fast) >= 150, got_fast
    assert elapsed < 5.0


def test_fanout_late_client_gets_the_last_message_then_end() -> None:
    async def scenario() -> list[object]:
        hub = Broadcaster(asyncio.get_running_loop(), client_queue=2)
        hub.publish({"seq": 7})
        hub.close()
        sub = hub.subscribe()
        return [await sub.get(), await sub.get()]

    assert asyncio.run(scenario()) == [{"seq": 7}, None]
