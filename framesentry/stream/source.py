"""The one contract between an ingest protocol (RTMP, WHIP) and a live session.

An ingest module decodes its transport into PyAV frames and hands them to a ``FrameSink``; it never looks at
models, windows or clients. A sink is opened by a ``SinkOpener`` from the publisher's stream key, which
refuses unknown or revoked keys with ``AuthError`` before any media is read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import av


class FrameSink(Protocol):
    """Receives decoded media of one live stream. Calls must be cheap: they only enqueue (never block on
    models), and may come from any thread."""

    def push_video(self, frame: av.VideoFrame) -> None:
        """A decoded video frame; ``frame.time`` is its stream time in seconds (may be None: then wall clock)."""

    def push_audio(self, frame: av.AudioFrame) -> None:
        """A decoded audio frame at any rate/layout; the sink resamples to 16 kHz mono itself."""

    def close(self, reason: str) -> None:
        """The publisher is gone (``"ended"``, ``"disconnected"``, ``"stalled"``, ``"error: ..."``)."""


class SinkOpener(Protocol):
    """Opens the sink for a stream key; raises ``framesentry.errors.AuthError`` for an unknown key."""

    def __call__(self, key: str, source: str) -> FrameSink: ...
