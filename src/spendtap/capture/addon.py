"""The mitmproxy addon: routes AI flows to their parser and hands calls on.

Runs on the proxy's event loop, so every hook is quick and none may raise into the
proxy: process lookup is submitted to a thread pool while the client connection is
still open, and parsed calls go to a sink that only enqueues.

A WebSocket (OpenAI Realtime) is one call too. Its upgrade response fires the HTTP
hooks, which leave it alone; the ``websocket_*`` hooks route it, feed each server
text message to the reader (framed by ``providers.websocket``) and record the call
when the socket closes. Messages are dropped from the flow once read, so a long
session does not hold its whole history in memory.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field

from mitmproxy import connection, http

from spendtap.capture.decoding import DecodingError, StreamDecoder, decode_all
from spendtap.capture.headers import CONTEXT_HEADERS, REQUEST_ID_HEADERS
from spendtap.capture.hosts import HostAllowList
from spendtap.capture.tee import ResponseTee
from spendtap.context.process import ProcessInfo, find_client_process
from spendtap.providers.base import (
    MAX_REQUEST_JSON_BYTES,
    ParsedCall,
    RequestInfo,
    ResponseHead,
    Route,
)
from spendtap.providers.registry import Registry
from spendtap.providers.websocket import (
    SWITCHING_PROTOCOLS,
    closed_normally,
    frame_message,
)

log = logging.getLogger(__name__)

METADATA_KEY = "spendtap"
WEBSOCKET_KEY = "spendtap.websocket"


@dataclass(frozen=True, slots=True)
class CapturedCall:
    """One AI call as the proxy saw it, before context and price are added."""

    flow_id: str
    host: str
    parsed: ParsedCall
    started_at: float
    ended_at: float
    first_content_at: float | None
    request_id: str | None
    headers: Mapping[str, str]
    #: The query string, kept in memory only: some providers put the key in it.
    query: str
    process: Future[ProcessInfo | None] | None


@dataclass(frozen=True, slots=True)
class CaptureFault:
    """A call we saw but could not parse: counted and logged, never silent."""

    flow_id: str
    host: str
    path: str
    reason: str


@dataclass(slots=True)
class _FlowState:
    route: Route
    tee: ResponseTee
    request_id: str | None
    headers: dict[str, str] = field(default_factory=dict)


class CaptureAddon:
    """Finds AI calls in flows and passes them, parsed, to ``on_call``."""

    def __init__(
        self,
        registry: Registry,
        hosts: HostAllowList,
        executor: Executor,
        on_call: Callable[[CapturedCall], None],
        on_fault: Callable[[CaptureFault], None],
    ) -> None:
        self.registry = registry
        self.hosts = hosts
        self.executor = executor
        self.on_call = on_call
        self.on_fault = on_fault
        self._processes: dict[str, Future[ProcessInfo | None]] = {}
        #: POSTs to AI hosts that no route handles, by (host, path prefix).
        self.unrouted: dict[tuple[str, str], int] = {}

    def client_connected(self, client: connection.Client) -> None:
        if client.peername and client.sockname:
            self._processes[client.id] = self.executor.submit(
                find_client_process, client.peername[:2], client.sockname[:2]
            )

    def client_disconnected(self, client: connection.Client) -> None:
        self._processes.pop(client.id, None)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        assert flow.response is not None
        try:
            state = self._start(flow)
        except Exception as exc:  # boundary: never break the user's traffic
            self._fault(flow, f"setup failed: {type(exc).__name__}: {exc}")
            state = None
        if state is None:
            flow.response.stream = True
        else:
            flow.metadata[METADATA_KEY] = state
            flow.response.stream = state.tee

    def response(self, flow: http.HTTPFlow) -> None:
        self._finish(flow, complete=True)

    def error(self, flow: http.HTTPFlow) -> None:
        self._finish(flow, complete=False)

    def websocket_start(self, flow: http.HTTPFlow) -> None:
        try:
            state = self._state(flow)
        except Exception as exc:  # boundary: never break the user's traffic
            self._fault(flow, f"setup failed: {type(exc).__name__}: {exc}")
            return
        if state is not None:
            flow.metadata[WEBSOCKET_KEY] = state

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        try:
            self._read_message(flow)
        except Exception as exc:  # boundary: never break the user's traffic
            log.warning(
                "collector.websocket.read_failed host=%s error=%s",
                flow.request.pretty_host,
                type(exc).__name__,
            )

    def _read_message(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is None or not flow.websocket.messages:
            return
        message = flow.websocket.messages[-1]
        state = flow.metadata.get(WEBSOCKET_KEY)
        if (
            isinstance(state, _FlowState)
            and message.is_text
            and not message.from_client
        ):
            state.tee(frame_message(message.content))
        del flow.websocket.messages[:]  # read once; mitmproxy relays its own copy

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        state = flow.metadata.pop(WEBSOCKET_KEY, None)
        if not isinstance(state, _FlowState):
            return
        socket = flow.websocket
        complete = closed_normally(socket.close_code if socket else None)
        ended = (socket.timestamp_end if socket else None) or time.time()
        self._record(flow, state, complete=complete, ended=ended)

    def _start(self, flow: http.HTTPFlow) -> _FlowState | None:
        assert flow.response is not None
        if flow.response.status_code == SWITCHING_PROTOCOLS:
            return None  # a WebSocket: the websocket hooks record it
        return self._state(flow)

    def _state(self, flow: http.HTTPFlow) -> _FlowState | None:
        """The parsing state of a flow that a route handles, or None."""
        assert flow.response is not None
        host = flow.request.pretty_host
        if not self.hosts.contains(host):
            return None
        request = RequestInfo(
            method=flow.request.method,
            host=host,
            path=flow.request.path,
            headers={k.lower(): v for k, v in flow.request.headers.items()},
        )
        route = self.registry.route(request)
        if route is None:
            self._unrouted(request)
            return None
        # Only a routed request's body is read (claude.ai uploads are not), and its
        # decoding is bounded like the response's.
        request = dataclasses.replace(request, body=self._request_body(flow))
        head = ResponseHead(
            status=flow.response.status_code,
            headers={k.lower(): v for k, v in flow.response.headers.items()},
        )
        try:
            decoder = StreamDecoder(head.headers.get("content-encoding", ""))
        except DecodingError as exc:
            self._fault(flow, str(exc))
            return None
        return _FlowState(
            route=route,
            tee=ResponseTee(route.reader(request, head), decoder),
            request_id=next(
                (head.headers[h] for h in REQUEST_ID_HEADERS if h in head.headers), None
            ),
            headers={
                h: request.headers[h] for h in CONTEXT_HEADERS if h in request.headers
            },
        )

    def _finish(self, flow: http.HTTPFlow, *, complete: bool) -> None:
        state = flow.metadata.pop(METADATA_KEY, None)
        if not isinstance(state, _FlowState):
            return
        ended = (flow.response.timestamp_end if flow.response else None) or time.time()
        self._record(flow, state, complete=complete, ended=ended)

    def _record(
        self, flow: http.HTTPFlow, state: _FlowState, *, complete: bool, ended: float
    ) -> None:
        try:
            call = self._captured(flow, state, complete=complete, ended=ended)
        except Exception as exc:  # boundary: a parser fault costs a record
            self._fault(flow, f"parse failed: {type(exc).__name__}: {exc}")
            return
        if state.tee.fault is not None:
            self._fault(flow, f"parse failed mid-stream: {state.tee.fault}")
            return
        self.on_call(call)

    def _captured(
        self, flow: http.HTTPFlow, state: _FlowState, *, complete: bool, ended: float
    ) -> CapturedCall:
        parsed = state.tee.reader.finish(complete=complete)
        return CapturedCall(
            flow_id=flow.id,
            host=flow.request.pretty_host,
            parsed=parsed,
            started_at=flow.request.timestamp_start,
            ended_at=ended,
            first_content_at=state.tee.first_content_at,
            request_id=state.request_id,
            headers=state.headers,
            query=flow.request.url.partition("?")[2],
            process=self._processes.get(flow.client_conn.id),
        )

    def _request_body(self, flow: http.HTTPFlow) -> bytes:
        raw = flow.request.raw_content or b""
        encoding = flow.request.headers.get("content-encoding", "")
        try:
            return decode_all(raw, encoding, MAX_REQUEST_JSON_BYTES)
        except DecodingError as exc:
            log.warning(
                "collector.request.unreadable host=%s reason=%s",
                flow.request.pretty_host,
                exc,
            )
            return b""

    def _unrouted(self, request: RequestInfo) -> None:
        """An AI host's POST no parser knows: counted, and logged once per endpoint."""
        if request.method.upper() != "POST":
            return
        endpoint = (request.host, "/".join(request.path_only.split("/")[:4]))
        seen = self.unrouted.get(endpoint, 0)
        self.unrouted[endpoint] = seen + 1
        if seen == 0:
            log.warning(
                "collector.call.unrouted host=%s path=%s: no parser for this endpoint; "
                "if it is billed, it is not in the report",
                *endpoint,
            )

    def _fault(self, flow: http.HTTPFlow, reason: str) -> None:
        fault = CaptureFault(
            flow_id=flow.id,
            host=flow.request.pretty_host,
            path=flow.request.path.split("?", 1)[0],
            reason=reason,
        )
        try:
            self.on_fault(fault)
        except Exception:  # boundary
            log.exception("collector.fault_sink_failed host=%s", fault.host)
