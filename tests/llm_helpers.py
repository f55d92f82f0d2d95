"""A tiny OpenAI-compatible chat server on loopback, for the optional LLM features (summary, routing policy).

It answers ``POST /v1/chat/completions`` with whatever ``reply(request_json)`` returns as the assistant's
content, and keeps every request it got. No model: the tests check the plumbing and the fallbacks.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeLLM:
    base_url: str
    requests: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def llm_server(reply: Callable[[dict[str, Any]], str], status: int = 200) -> Iterator[FakeLLM]:
    state = FakeLLM("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
            payload = json.dumps({"id": "x", "object": "chat.completion", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": reply(body)}, "finish_reason": "stop"}]})
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(payload.encode())

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
