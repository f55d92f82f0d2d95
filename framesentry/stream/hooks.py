"""The one hook the live path offers explanations: "the verdict just turned Fake, here is the frame".

``LiveSession`` calls ``fake_frame`` on each message it is about to publish; when the message carries a
verdict change to Fake, the event gets an ``explanation`` link (the artifact's URL, fixed in advance) and the
frame that caused it (or the last frame with faces, for an audio-driven change) is handed to ``on_fake``,
which must return at once: the explaining happens off the live path (``api/live_explain.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from framesentry.stream.messages import ScoreMessage


@dataclass(frozen=True)
class FakeFrame:
    stream_id: uuid.UUID
    t_s: float
    rgb: NDArray[np.uint8] = field(repr=False)
    boxes: list[tuple[int, int, int, int]]
    p_fake: list[float]
    artifact: str
    """Name of the heat-map image the explanation will be stored under (the event links to it)."""


OnFake = Callable[[FakeFrame], None]


def fake_frame(
    stream_id: uuid.UUID, message: ScoreMessage, frame: tuple[float, NDArray[np.uint8], list[Any]] | None
) -> FakeFrame | None:
    """If ``message`` turns the verdict Fake and a frame with faces is known: link the event, return the work."""
    for event in message.events:
        if event.to == "fake" and frame is not None:
            t_s, rgb, faces = frame
            name = f"verdict_{message.seq:06d}_frame.png"
            event.explanation = f"/v1/streams/{stream_id}/artifacts/{name}"
            boxes = [(int(f.box.x1), int(f.box.y1), int(f.box.x2), int(f.box.y2)) for f in faces]
            return FakeFrame(stream_id, t_s, rgb, boxes, [float(f.p_fake) for f in faces], name)
    return None
