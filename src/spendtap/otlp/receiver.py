"""The OTLP/HTTP server: ``POST /v1/logs`` and ``POST /v1/metrics``.

Runs uvicorn on its own thread and event loop, like the provider simulator; the
listening socket is bound before the thread starts, so a busy port fails in the
caller and port 0 gives a free port known at once. Usage events go into the spool
in one durable commit per request, before the response is sent, so an exporter
that got its 200 has handed the events over for good. gRPC is not served
(``OTEL_EXPORTER_OTLP_PROTOCOL=grpc`` needs an OTLP collector in front).

Responses follow OTLP/HTTP: 200 with an empty ``Export*ServiceResponse`` in the
request's encoding; 400 for a body that is not OTLP, 404, 405, 413 and 415 for
the rest; 500 when the events could not be spooled (the exporter may retry).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import uvicorn
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)

from spendtap.agentlogs.context import LogContext
from spendtap.agentlogs.events import EventFactory
from spendtap.delivery.spool import Spool
from spendtap.errors import ConfigError, SpendtapError
from spendtap.otlp.decode import (
    JSON,
    MAX_BODY_BYTES,
    PROTOBUF,
    OtlpDecodeError,
    decode_logs,
    decode_metrics,
    decompress,
    media_type,
)
from spendtap.otlp.mapping import map_logs
from spendtap.otlp.metrics import MetricSnapshot, MetricTotals
from spendtap.pricing import Pricer

log = logging.getLogger(__name__)

LOGS_PATH = "/v1/logs"
METRICS_PATH = "/v1/metrics"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class OtlpTotals:
    """What the receiver has taken since it started.

    ``event_tokens`` and ``agent_cost_usd`` add up the usage events made from log
    records (token kinds as the events name them); ``metrics`` holds the agents'
    own metric totals, to compare them with.
    """

    log_records: int
    calls: int
    spooled: int
    api_errors: int
    rejected_requests: int
    event_tokens: dict[str, int]
    agent_cost_usd: Decimal
    metrics: MetricSnapshot


class _Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.log_records = 0
        self.calls = 0
        self.spooled = 0
        self.api_errors = 0
        self.rejected = 0
        self.tokens: dict[str, int] = {}
        self.agent_cost = Decimal(0)


class OtlpReceiver:
    """Takes agents' OTLP telemetry on ``host:port`` into ``spool``.

    ``context`` gives the events their device and user (the collector builds it
    from its data dir); ``pricer`` prices them (the collector shares its own).
    """

    def __init__(
        self,
        spool: Spool,
        context: LogContext,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        pricer: Pricer | None = None,
    ) -> None:
        self.spool = spool
        self.host = host
        self._requested_port = port
        self._factory = EventFactory(context, pricer or Pricer())
        self._factory_lock = threading.Lock()
        self._metrics = MetricTotals()
        self._counters = _Counters()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = port

    @property
    def url(self) -> str:
        """The endpoint to give agents (``OTEL_EXPORTER_OTLP_ENDPOINT``)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Listen and serve in a daemon thread; raises ``ConfigError`` on a busy port."""
        if self._thread is not None:
            return
        sock = _bind(self.host, self._requested_port)
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            interface="asgi3",
            http="h11",
            ws="none",
            lifespan="off",
            proxy_headers=False,
            log_config=None,
            access_log=False,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=_serve, args=(server, sock), name="spendtap-otlp", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                raise ConfigError(
                    f"the OTLP receiver did not start on {self.host}:{self.port}; "
                    "see the log above"
                )
            time.sleep(0.01)
        self._server, self._thread = server, thread
        log.info("otlp.receiver.started url=%s", self.url)

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(STOP_TIMEOUT_S)
        if thread.is_alive():
            server.force_exit = True
            thread.join(STOP_TIMEOUT_S)
        self._server = self._thread = None
        log.info("otlp.receiver.stopped %s", self._summary())

    def totals(self) -> OtlpTotals:
        c = self._counters
        with c.lock:
            return OtlpTotals(
                log_records=c.log_records,
                calls=c.calls,
                spooled=c.spooled,
                api_errors=c.api_errors,
                rejected_requests=c.rejected,
                event_tokens=dict(c.tokens),
                agent_cost_usd=c.agent_cost,
                metrics=self._metrics.snapshot(),
            )

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI application (usable without ``start`` in tests)."""
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path not in (LOGS_PATH, METRICS_PATH):
            await _respond(send, 404, JSON, b'{"error":"not an OTLP path"}')
            return
        if method != "POST":
            await _respond(send, 405, JSON, b'{"error":"use POST"}')
            return
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1")
            for k, v in scope["headers"]
        }
        body = await _read_body(receive)
        if body is None:
            self._reject()
            await _respond(send, 413, JSON, b'{"error":"body too large"}')
            return
        kind = media_type(headers.get("content-type", ""))
        status, reply = self.handle(
            path, body, kind, headers.get("content-encoding", "")
        )
        await _respond(send, status, kind if kind in (JSON, PROTOBUF) else JSON, reply)

    def handle(
        self, path: str, body: bytes, content_type: str, encoding: str = ""
    ) -> tuple[int, bytes]:
        """One export request: the status and body to answer with."""
        if content_type not in (JSON, PROTOBUF):
            self._reject()
            return 415, b'{"error":"send application/x-protobuf or application/json"}'
        try:
            data = decompress(body, encoding)
            if path == LOGS_PATH:
                self._take_logs(data, content_type)
                reply: Any = ExportLogsServiceResponse()
            else:
                self._metrics.add(decode_metrics(data, content_type))
                reply = ExportMetricsServiceResponse()
        except OtlpDecodeError as exc:
            self._reject()
            log.warning("otlp.request.rejected path=%s error=%s", path, exc)
            return 400, _error_json(str(exc))
        except SpendtapError as exc:  # the spool: the exporter should retry
            log.error("otlp.request.failed path=%s error=%s", path, exc)
            return 500, _error_json(str(exc))
        except Exception:  # boundary: a bug costs this request, never the server
            log.exception("otlp.request.failed path=%s", path)
            return 500, _error_json("internal error; see the collector log")
        if content_type == PROTOBUF:
            return 200, reply.SerializeToString()
        return 200, b"{}"

    def _take_logs(self, data: bytes, content_type: str) -> None:
        mapped = map_logs(decode_logs(data, content_type), datetime.now(UTC))
        with self._factory_lock:
            events = [self._factory.build(call) for call in mapped.calls]
        added = self.spool.put_many(e.to_json() for e in events) if events else 0
        c = self._counters
        with c.lock:
            c.log_records += mapped.records
            c.api_errors += mapped.api_errors
            c.calls += len(events)
            c.spooled += added
            for call in mapped.calls:
                c.agent_cost += call.agent_cost_usd or 0
                for name in _TOKEN_NAMES:
                    value = getattr(call, name)
                    if value:
                        c.tokens[name] = c.tokens.get(name, 0) + value
        if events:
            log.info(
                "otlp.logs.spooled records=%d calls=%d new=%d",
                mapped.records,
                len(events),
                added,
            )

    def _reject(self) -> None:
        with self._counters.lock:
            self._counters.rejected += 1

    def _summary(self) -> str:
        t = self.totals()
        return f"records={t.log_records} calls={t.calls} spooled={t.spooled}"


_TOKEN_NAMES = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
)


async def _read_body(receive: Receive) -> bytes | None:
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


async def _respond(send: Send, status: int, content_type: str, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _error_json(message: str) -> bytes:
    return orjson.dumps({"error": message})


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"the OTLP receiver cannot listen on {host}:{port} ({exc.strerror}); "
            "choose another --otlp-listen port, or 0 for any free one"
        ) from exc
    sock.listen(128)
    return sock


def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
