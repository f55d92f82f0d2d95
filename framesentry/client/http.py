"""``FrameSentryClient``: REST over one httpx connection pool, scores over a websockets connection.

Errors come back as ``ApiError`` (a ``FrameSentryError``) carrying the server's code, message and HTTP status,
so a CLI built on it prints them as one line like its own errors.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import httpx

from framesentry.client.types import (
    Analysis,
    AnalysisPage,
    ScoreMessage,
    SeriesResponse,
    StreamInfo,
    StreamKey,
    StreamKeyCreated,
    StreamPage,
)
from framesentry.errors import FrameSentryError


class ApiError(FrameSentryError):
    """The server answered with its error shape (or a WebSocket ``error`` message)."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, **(details or {}))
        self.code = code
        self.http_status = status


class FrameSentryClient:
    """A FrameSentry server at ``base_url``; ``api_key`` when the server requires one."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", *, api_key: str | None = None,
                 timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s)
        self.end_reason: str | None = None

    def __enter__(self) -> FrameSentryClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- plumbing ------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            resp = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(0, "unreachable", f"Cannot reach {self.base_url}: {exc}") from exc
        if resp.status_code >= 400:
            raise _error(resp)
        return None if resp.status_code == 204 or not resp.content else resp.json()

    # --- analyses ------------------------------------------------------------------------------------

    def submit_analysis(self, path: str | Path, *, callback_url: str | None = None,
                        idempotency_key: str | None = None) -> Analysis:
        """Upload a file; the analysis is queued (``status`` 'queued')."""
        file = Path(path)
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        data = {"callback_url": callback_url} if callback_url else {}
        with file.open("rb") as handle:
            return cast(Analysis, self._request("POST", "/v1/analyses", files={"file": (file.name, handle)},
                                                data=data, headers=headers))

    def analysis(self, analysis_id: str) -> Analysis:
        return cast(Analysis, self._request("GET", f"/v1/analyses/{analysis_id}"))

    def wait_for_analysis(self, analysis_id: str, *, timeout_s: float = 600.0, every_s: float = 0.5) -> Analysis:
        """Poll until the analysis is done or failed (``TimeoutError`` after ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while True:
            body = self.analysis(analysis_id)
            if body["status"] in ("done", "failed"):
                return body
            if time.monotonic() > deadline:
                raise TimeoutError(f"analysis {analysis_id} still {body['status']} after {timeout_s} s")
            time.sleep(every_s)

    def analyses(self, *, status: str | None = None, verdict: str | None = None, limit: int = 20,
                 offset: int = 0) -> AnalysisPage:
        params = _params(status=status, verdict=verdict, limit=limit, offset=offset)
        return cast(AnalysisPage, self._request("GET", "/v1/analyses", params=params))

    def delete_analysis(self, analysis_id: str) -> None:
        self._request("DELETE", f"/v1/analyses/{analysis_id}")

    # --- live sources and streams --------------------------------------------------------------------

    def create_source(self, name: str) -> StreamKeyCreated:
        """Register a live source: its secret stream key (shown once) and where to publish."""
        return cast(StreamKeyCreated, self._request("POST", "/v1/streams", json={"name": name}))

    def stream_keys(self, *, include_revoked: bool = False) -> list[StreamKey]:
        body = self._request("GET", "/v1/stream-keys", params={"include_revoked": include_revoked})
        return cast(list[StreamKey], body["items"])

    def revoke_key(self, key_id: int) -> None:
        self._request("DELETE", f"/v1/stream-keys/{key_id}")

    def streams(self, *, state: str | None = None, key_id: int | None = None, limit: int = 20,
                offset: int = 0) -> StreamPage:
        params = _params(state=state, key_id=key_id, limit=limit, offset=offset)
        return cast(StreamPage, self._request("GET", "/v1/streams", params=params))

    def stream(self, stream_id: str) -> StreamInfo:
        return cast(StreamInfo, self._request("GET", f"/v1/streams/{stream_id}"))

    def stop_stream(self, stream_id: str) -> None:
        self._request("DELETE", f"/v1/streams/{stream_id}")

    def series(self, stream_id: str, *, bucket_s: float = 10.0) -> SeriesResponse:
        return cast(SeriesResponse, self._request("GET", f"/v1/streams/{stream_id}/series",
                                                  params={"bucket": bucket_s}))

    def scores(self, stream_id: str, *, open_timeout_s: float = 10.0) -> Iterator[ScoreMessage]:
        """Score messages as they are made, until the stream ends (then ``end_reason`` says why).

        Authorised by the ``X-API-Key`` header; an unknown stream or a refused key raises ``ApiError``."""
        from websockets.sync.client import connect

        self.end_reason = None
        ws_base = self.base_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        headers = {"X-API-Key": self.api_key} if self.api_key else None
        with connect(f"{ws_base}/v1/streams/{stream_id}/scores", additional_headers=headers,
                     open_timeout=open_timeout_s) as ws:
            for raw in ws:
                message = json.loads(raw)
                if message["type"] == "error":
                    err = message["error"]
                    raise ApiError(404 if err["code"] == "not_found" else 401, err["code"], err["message"],
                                   err.get("details"))
                if message["type"] == "end":
                    self.end_reason = message.get("reason")
                    return
                yield cast(ScoreMessage, message)


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _error(resp: httpx.Response) -> ApiError:
    try:
        err = resp.json()["error"]
        return ApiError(resp.status_code, err["code"], err["message"], err.get("details"))
    except (ValueError, KeyError, TypeError):
        return ApiError(resp.status_code, "http_error", f"HTTP {resp.status_code}: {resp.text[:200]}")
