"""A typed Python client for FrameSentry's REST and WebSocket APIs (httpx, websockets).

    from framesentry.client import FrameSentryClient

    with FrameSentryClient("http://127.0.0.1:8000", api_key=None) as fs:
        job = fs.wait_for_analysis(fs.submit_analysis("clip.mp4")["id"])
        print(job["verdict"], job["p_fake"])
        for message in fs.scores(stream_id):   # until the stream ends
            print(message["stream_t_s"], message["p_fake"], message["verdict"])

It imports nothing of the server (only ``framesentry.errors``), so it works against a remote server.
"""

from framesentry.client.http import ApiError, FrameSentryClient
from framesentry.client.types import (
    Analysis,
    AnalysisPage,
    IngestUrls,
    ScoreMessage,
    SeriesResponse,
    StreamInfo,
    StreamKey,
    StreamKeyCreated,
    StreamPage,
)

__all__ = [
    "Analysis",
    "AnalysisPage",
    "ApiError",
    "FrameSentryClient",
    "IngestUrls",
    "ScoreMessage",
    "SeriesResponse",
    "StreamInfo",
    "StreamKey",
    "StreamKeyCreated",
    "StreamPage",
]
