"""The live WebSocket messages as typed models: what ``LiveState`` builds, what the hub fans out and records,
and (the same classes) the schema published in the OpenAPI components.

A ``ScoreMessage`` is built from the scoring core's ``Judgement`` of the stream's rolling horizon, so its
per-modality and per-face numbers mean what an upload's do; only the horizon differs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from framesentry.inference.result import Verdict


class LiveModality(BaseModel):
    status: Literal["ok", "no_face", "no_speech"]
    p_fake: float | None = Field(description="Calibrated probability over the rolling horizon (None: nothing seen).")
    speech_fraction: float | None = Field(
        None, description="Audio messages only: share of the window that is speech."
    )


class LiveFace(BaseModel):
    track_id: int
    p_fake: float = Field(description="Mean p_fake of the face's last frames (the rolling horizon).")
    frames: int = Field(description="Frames of this face inside the horizon.")
    box: tuple[int, int, int, int] = Field(description="Where the face was last seen: x1, y1, x2, y2 in pixels.")


class VerdictEvent(BaseModel):
    type: Literal["verdict_changed"] = "verdict_changed"
    from_: Verdict = Field(alias="from", serialization_alias="from")
    to: Verdict
    stream_t_s: float
    p_fake: float
    explanation: str | None = Field(
        None, description="A change to Fake: where the heat map of the frame that caused it will be served."
    )

    model_config = {"populate_by_name": True}


class ScoreMessage(BaseModel):
    """One WebSocket message on ``/v1/streams/{id}/scores``; the stream's last message is an ``EndMessage``."""

    type: Literal["score"] = "score"
    seq: int = Field(description="Increases by one per message of this stream.")
    stream_id: str
    kind: Literal["visual", "audio"]
    stream_t_s: float = Field(description="Stream time of the window that was scored, seconds.")
    server_time: datetime
    latency_ms: float = Field(description="Window closed (frame or audio received) -> this message, server side.")
    visual: LiveModality
    audio: LiveModality
    faces: list[LiveFace] = Field(description="Per tracked face inside the horizon, by track id.")
    p_fake_window: float | None = Field(description="Fused score of the horizon before smoothing.")
    p_fake: float | None = Field(description="Smoothed fused probability (the verdict's basis).")
    verdict: Verdict
    events: list[VerdictEvent] = Field(description="Verdict changes this update caused.")
    dropped: dict[str, int] = Field(description="Windows dropped so far because detection fell behind.")

    def to_json(self) -> dict[str, object]:
        """The wire form (what WebSocket clients receive)."""
        return self.model_dump(mode="json", by_alias=True)


class EndMessage(BaseModel):
    """The last message of a stream's WebSocket, before the close with code 1000."""

    type: Literal["end"] = "end"
    stream_id: str
    reason: str | None = Field(description="Why the stream ended (ended, stopped_by_api, replaced, ...).")
    client_dropped: int = Field(description="Messages this client missed because it read too slowly.")
