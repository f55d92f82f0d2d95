"""Bounded hand-off from one stream to a shared batcher: when detection falls behind, the oldest work goes.

At most ``max_inflight`` items of a stream wait in the batcher; one more is held back, and a newer item
replaces it (the replaced one is counted as dropped). Results therefore arrive in stream order, memory is
bounded per stream, and a slow model makes a stream skip windows instead of falling ever further behind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

from framesentry.errors import FrameSentryError
from framesentry.obs.metrics import metrics

T = TypeVar("T")
R = TypeVar("R")


class Admission(Generic[T, R]):
    def __init__(
        self,
        submit: Callable[[T], Future[R]],
        on_result: Callable[[T, R], None],
        on_error: Callable[[T, BaseException], None],
        max_inflight: int,
    ) -> None:
        self._submit = submit
        self._on_result = on_result
        self._on_error = on_error
        self.max_inflight = max_inflight
        self._lock = threading.Lock()
        self._inflight = 0
        self._held: T | None = None
        self.accepted = 0
        self.dropped = 0
        self.closed = False

    def _drop(self) -> None:
        self.dropped += 1
        metrics().dropped_windows.inc()

    @property
    def inflight(self) -> int:
        return self._inflight

    def offer(self, item: T) -> None:
        with self._lock:
            if self.closed:
                return
            self.accepted += 1
            if self._inflight >= self.max_inflight:
                if self._held is not None:
                    self._drop()
                self._held = item
                return
            self._inflight += 1
        self._send(item)

    def close(self) -> None:
        """No more items; a held one is dropped, those in flight still report."""
        with self._lock:
            self.closed = True
            if self._held is not None:
                self._drop()
                self._held = None

    def _send(self, item: T) -> None:
        try:
            future = self._submit(item)
        except FrameSentryError:  # the batcher is full (back-pressure) or stopped: this item is shed
            with self._lock:
                self._drop()
            self._finished()
            return
        future.add_done_callback(lambda fut: self._done(item, fut))

    def _done(self, item: T, future: Future[R]) -> None:
        try:
            exc = future.exception()
            if exc is None:
                self._on_result(item, future.result())
            else:
                self._on_error(item, exc)
        finally:
            self._finished()

    def _finished(self) -> None:
        with self._lock:
            self._inflight -= 1
            nxt, self._held = self._held, None
            if nxt is not None:
                self._inflight += 1
        if nxt is not None:
            self._send(nxt)
