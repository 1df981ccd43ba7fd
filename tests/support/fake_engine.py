"""A small engine stand-in on 127.0.0.1 that records what it is sent.

    POST /v1/events     answered by ``responder(events)``; every post kept in ``posts``
    POST /v1/drops      answered by ``drops_responder(drops)``; kept in ``drop_posts``
    /v1/devices/...     enrollment as the contract says, in memory, when
                        ``admin_token`` is set (then ingest needs a device token)

Optionally over TLS (``tls=(cert, key)``). For delivery tests only: it stores nothing.
"""

from __future__ import annotations

import gzip
import json
import re
import secrets
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None  # None: the engine's usual 200 answer
    delay: float = 0.0  # seconds to wait before answering (past a client timeout)


@dataclass(frozen=True)
class Post:
    path: str
    headers: dict[str, str]
    events: list[dict[str, Any]]
    at: float
    status: int
    delay: float = 0.0

    @property
    def ids(self) -> list[str]:
        return [e["event_id"] for e in self.events]


@dataclass
class Device:
    device_id: str
    token: str
    hostname: str
    os_user: str
    revoked: bool = False


Responder = Callable[[list[dict[str, Any]]], Reply]


def always_ok(events: list[dict[str, Any]]) -> Reply:
    return Reply()


def drops_ok(drops: list[dict[str, Any]]) -> Reply:
    return Reply(200, body={"accepted": len(drops), "duplicates": 0})


_REVOKE = re.compile(r"^/v1/devices/([^/]+)/revoke$")


class FakeEngine:
    """Answers each POST with ``responder(events)``; keeps every post in ``posts``."""

    def __init__(
        self,
        responder: Responder = always_ok,
        *,
        tls: tuple[Path, Path] | None = None,
        admin_token: str | None = None,
    ) -> None:
        self.responder = responder
        self.drops_responder: Responder = drops_ok
        self.posts: list[Post] = []
        self.drop_posts: list[Post] = []
        self.admin_token = admin_token
        self.codes: dict[str, dict[str, Any]] = {}  # code -> body it was issued with
        self.devices: dict[str, Device] = {}
        self.enroll_requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._scheme = "http"
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(tls[0], tls[1])
            self._server.socket = context.wrap_socket(
                self._server.socket, server_side=True
            )
            self._scheme = "https"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host!s}:{port}"

    def stored_ids(self) -> list[str]:
        """Event ids of every post answered 200, in arrival order."""
        with self._lock:
            return [i for p in self.posts if p.status == 200 for i in p.ids]

    def stored_drops(self) -> list[dict[str, Any]]:
        with self._lock:
            return [d for p in self.drop_posts if p.status == 200 for d in p.events]

    def issue(self, note: str | None = None) -> str:
        code = secrets.token_hex(6)  # never starts with "-", like real codes
        self.codes[code] = {"note": note}
        return code

    def __enter__(self) -> FakeEngine:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _record(self, post: Post, drops: bool = False) -> None:
        with self._lock:
            (self.drop_posts if drops else self.posts).append(post)

    # --- routes -----------------------------------------------------------------

    def route(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> Reply:
        if method == "POST" and path.endswith("/v1/events"):
            return self._events(path, headers, raw)
        if method == "POST" and path.endswith("/v1/drops"):
            return self._drops(path, headers, raw)
        if self.admin_token is None:
            return Reply(404, body={"error": {"code": "not_found", "message": path}})
        return self._devices(method, path, headers, raw)

    def _events(self, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        if headers.get("content-encoding") == "gzip":
            raw = gzip.decompress(raw)
        events = json.loads(raw)["events"]
        refusal = self._device_refusal(headers)
        reply = refusal or self.responder(events)
        post = Post(path, headers, events, time.monotonic(), reply.status, reply.delay)
        self._record(post)
        if reply.body is None:
            return Reply(
                reply.status,
                reply.headers,
                {"accepted": len(events), "duplicates": 0},
                reply.delay,
            )
        return reply

    def _drops(self, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        drops = json.loads(raw)["drops"]
        reply = self._device_refusal(headers) or self.drops_responder(drops)
        self._record(Post(path, headers, drops, time.monotonic(), reply.status), True)
        return reply

    def _device_refusal(self, headers: dict[str, str]) -> Reply | None:
        if self.admin_token is None:
            return None
        token = headers.get("authorization", "").removeprefix("Bearer ")
        device = next((d for d in self.devices.values() if d.token == token), None)
        if device is None:
            return _error(401, "device_unknown", "no device has this token")
        if device.revoked:
            return _error(401, "device_revoked", "this device was revoked")
        return None

    def _devices(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> Reply:
        body = json.loads(raw) if raw else {}
        if method == "POST" and path == "/v1/devices/enroll":
            return self._enroll(body)
        if headers.get("authorization") != f"Bearer {self.admin_token}":
            return _error(401, "unauthorized", "an admin token is needed")
        if method == "POST" and path == "/v1/devices/codes":
            code = secrets.token_urlsafe(8)
            self.codes[code] = body
            return Reply(201, body={"code": code, "expires_at": "2030-01-01T00:00:00Z"})
        if method == "GET" and path == "/v1/devices":
            return Reply(
                200,
                body={"devices": [self._describe(d) for d in self.devices.values()]},
            )
        match = _REVOKE.match(path)
        if method == "POST" and match:
            device = self.devices.get(match.group(1))
            if device is None:
                return _error(404, "not_found", "no such device")
            device.revoked = True
            return Reply(200, body={"device_id": device.device_id, "revoked": True})
        return _error(404, "not_found", path)

    def _enroll(self, body: dict[str, Any]) -> Reply:
        self.enroll_requests.append(body)
        if self.codes.pop(body.get("code", ""), None) is None:
            return _error(401, "code_invalid", "unknown, used or expired code")
        device = Device(
            device_id=f"dev_{secrets.token_hex(4)}",
            token=secrets.token_urlsafe(24),
            hostname=body["hostname"],
            os_user=body["os_user"],
        )
        self.devices[device.device_id] = device
        return Reply(200, body={"device_id": device.device_id, "token": device.token})

    @staticmethod
    def _describe(device: Device) -> dict[str, Any]:
        return {
            "device_id": device.device_id,
            "hostname": device.hostname,
            "os_user": device.os_user,
            "revoked_at": "2030-01-01T00:00:00Z" if device.revoked else None,
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        engine = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer(b"")

            def do_POST(self) -> None:
                self._answer(self.rfile.read(int(self.headers["Content-Length"])))

            def _answer(self, raw: bytes) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = engine.route(self.command, self.path, headers, raw)
                time.sleep(reply.delay)
                data = json.dumps(reply.body or {}).encode()
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (ConnectionError, ssl.SSLError):  # the client gave up
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _error(status: int, code: str, message: str) -> Reply:
    return Reply(
        status, body={"error": {"code": code, "message": message, "details": []}}
    )
