"""A tiny engine stand-in on 127.0.0.1 that records every batch posted to it."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None  # None: the engine's usual 200 answer


@dataclass(frozen=True)
class Post:
    path: str
    headers: dict[str, str]
    events: list[dict[str, Any]]
    at: float
    status: int

    @property
    def ids(self) -> list[str]:
        return [e["event_id"] for e in self.events]


Responder = Callable[[list[dict[str, Any]]], Reply]


def always_ok(events: list[dict[str, Any]]) -> Reply:
    return Reply()


class FakeEngine:
    """Answers each POST with ``responder(events)``; keeps every post in ``posts``."""

    def __init__(self, responder: Responder = always_ok) -> None:
        self.responder = responder
        self.posts: list[Post] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stored_ids(self) -> list[str]:
        """Event ids of every post answered 200, in arrival order."""
        with self._lock:
            return [i for p in self.posts if p.status == 200 for i in p.ids]

    def __enter__(self) -> FakeEngine:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _record(self, post: Post) -> None:
        with self._lock:
            self.posts.append(post)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        engine = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                body = json.loads(gzip.decompress(raw))
                events = body["events"]
                reply = engine.responder(events)
                headers = {k.lower(): v for k, v in self.headers.items()}
                engine._record(
                    Post(self.path, headers, events, time.monotonic(), reply.status)
                )
                answer = reply.body
                if answer is None:
                    answer = {"accepted": len(events), "duplicates": 0}
                data = json.dumps(answer).encode()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
