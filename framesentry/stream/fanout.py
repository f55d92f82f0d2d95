"""Score messages from the scoring thread to every WebSocket client of a stream, never blocking the stream.

Each client has a small bounded queue on the event loop. When a client reads slower than scores arrive, the
oldest message in its queue is dropped (the client always gets the newest state) and the drop is counted;
the scoring thread only ever schedules a callback on the loop, it never waits for a client.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

Message = dict[str, Any]


@dataclass(eq=False)
class Subscription:
    """One client's view of a stream: read messages with ``await get()``; ``None`` means the stream ended."""

    queue: asyncio.Queue[Message | None]
    dropped: int = 0
    closed: bool = field(default=False)

    async def get(self) -> Message | None:
        return await self.queue.get()


class Broadcaster:
    """Fan-out for one stream. ``publish`` and ``close`` are safe from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, client_queue: int) -> None:
        if client_queue < 1:
            raise ValueError("client_queue must be at least 1")
        self.loop = loop
        self.client_queue = client_queue
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()
        self.last: Message | None = None
        self.closed = False

    def subscribe(self) -> Subscription:
        """Call on the event loop. A new client first receives the latest message, if any."""
        sub = Subscription(asyncio.Queue(maxsize=self.client_queue))
        if self.last is not None:
            sub.queue.put_nowait(self.last)
        with self._lock:  # with close(): a client either is in the set close() snapshots, or sees closed
            if not self.closed:
                self._subs.add(sub)
                return sub
        self._offer(sub, None)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    def publish(self, message: Message) -> None:
        self.last = message
        self._schedule(message)

    def close(self) -> None:
        """The stream is over: every client gets ``None`` after its pending messages."""
        with self._lock:
            self.closed = True
        self._schedule(None)

    def _schedule(self, message: Message | None) -> None:
        with self._lock:
            subs = list(self._subs)
            if message is None:
                self._subs.clear()
        if not subs or self.loop.is_closed():
            return
        try:
            self.loop.call_soon_threadsafe(self._deliver, subs, message)
        except RuntimeError:  # the loop shut down between the check and the call
            return

    def _deliver(self, subs: list[Subscription], message: Message | None) -> None:
        for sub in subs:
            self._offer(sub, message)

    @staticmethod
    def _offer(sub: Subscription, message: Message | None) -> None:
        """Newest wins: make room by dropping the oldest queued message."""
        if sub.closed:
            return
        while sub.queue.full():
            sub.queue.get_nowait()
            sub.dropped += 1
        sub.queue.put_nowait(message)
        if message is None:
            sub.closed = True
