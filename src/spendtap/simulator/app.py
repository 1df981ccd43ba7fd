"""The simulator's ASGI app: a fake api.anthropic.com and api.openai.com in one.

Routes (the Host header may name either provider; the path decides):

    HEAD, GET /                          200 (Claude Code checks reachability)
    POST /v1/messages[?beta=true]        Anthropic Messages, streaming or not
    POST /v1/messages/count_tokens       Anthropic token count
    POST /v1/chat/completions            OpenAI Chat Completions, streaming or not
    POST /v1/responses                   OpenAI Responses, streaming or not

Every call gets a number ``n``: ids are ``msg_sim_<n>`` (``chatcmpl-sim_<n>``,
``resp_sim_<n>``) and the request id header (``request-id`` or ``x-request-id``) is
``req_sim_<n>``. Scenarios are in ``transport``, token rules in ``tokens`` and
``answer``, the ledger in ``ledger``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from spendtap.simulator.anthropic_messages import CountTokensWire, MessagesWire
from spendtap.simulator.ledger import Ledger, LedgerEntry, utc_timestamp
from spendtap.simulator.openai_chat import ChatCompletionsWire
from spendtap.simulator.openai_responses import ResponsesWire
from spendtap.simulator.tokens import PromptCache
from spendtap.simulator.transport import (
    RETRY_AFTER_SECONDS,
    CutBodyResponse,
    FrameStreamResponse,
    Outcome,
    Plan,
    Scenario,
    gzip_bytes,
    read_plan,
)
from spendtap.simulator.wire import (
    CallContext,
    ErrorKind,
    Reply,
    RequestRejectedError,
    WireFormat,
    is_streaming,
)

log = logging.getLogger(__name__)

JSON_TYPE = "application/json"
NO_PLAN = Plan(frozenset(), 0.0)
#: Query parameters the ledger keeps; any other (an API key, say) is left out.
SAFE_QUERY: frozenset[str] = frozenset({"beta", "api-version"})


class SimulatorState:
    """What lives as long as the app: the call counter, prompt caches, the ledger."""

    def __init__(self, ledger: Path | None) -> None:
        self.ledger = Ledger(ledger)
        self.cache = PromptCache()
        self._numbers = itertools.count(1)

    def next_call(self, headers: Mapping[str, str]) -> CallContext:
        return CallContext(next(self._numbers), headers, self.cache, int(time.time()))


@dataclass(frozen=True, slots=True)
class CallRecorder:
    """Writes the ledger line of one call once its outcome is known."""

    state: SimulatorState
    wire: WireFormat
    request: Request
    call: CallContext
    plan: Plan
    streaming: bool
    model: str | None
    response_id: str | None

    def __call__(
        self,
        outcome: Outcome,
        error_type: str | None,
        usage: Mapping[str, Any] | None,
        http_status: int = 200,
    ) -> None:
        path = _recorded_path(self.request)
        host = self.request.headers.get("host", "").rsplit(":", 1)[0]
        entry = LedgerEntry(
            ts=utc_timestamp(),
            provider=self.wire.provider.value,
            api=self.wire.api,
            host=host,
            method=self.request.method,
            path=path,
            model=self.model,
            streaming=self.streaming,
            scenarios=self.plan.names,
            status=outcome.value,
            http_status=http_status,
            error_type=error_type,
            request_id=self.call.request_id,
            response_id=self.response_id,
            usage=dict(usage) if usage is not None else None,
        )
        self.state.ledger.append(entry)


def build_app(*, ledger: Path | None = None) -> Starlette:
    """The simulator app; ``ledger`` is the JSON Lines file calls are recorded in."""
    state = SimulatorState(ledger)

    def api(wire: WireFormat) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await handle_call(request, wire, state)

        return endpoint

    routes = [
        Route("/", root, methods=["GET", "HEAD"]),
        Route("/v1/messages", api(MessagesWire()), methods=["POST"]),
        Route("/v1/messages/count_tokens", api(CountTokensWire()), methods=["POST"]),
        Route("/v1/chat/completions", api(ChatCompletionsWire()), methods=["POST"]),
        Route("/v1/responses", api(ResponsesWire()), methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found})
    app.state.simulator = state
    return app


async def root(request: Request) -> Response:
    return PlainTextResponse("spendtap provider simulator\n")


async def not_found(request: Request, exc: Exception) -> Response:
    wire: WireFormat = MessagesWire()
    if "openai" in request.headers.get("host", ""):
        wire = ChatCompletionsWire()
    message = f"Not found: {request.method} {request.url.path}"
    body = wire.error_body(ErrorKind.NOT_FOUND, message, None)
    return JSONResponse(body, status_code=404)


async def handle_call(
    request: Request, wire: WireFormat, state: SimulatorState
) -> Response:
    call = state.next_call(request.headers)
    headers = {wire.request_id_header: call.request_id}
    record = CallRecorder(state, wire, request, call, NO_PLAN, False, None, None)
    try:
        plan = read_plan(request.headers)
        body = _json_object(await request.body())
    except RequestRejectedError as exc:
        return _rejected(record, headers, str(exc))

    record = replace(
        record, plan=plan, streaming=is_streaming(body), model=_model(body)
    )
    if plan.has(Scenario.HTTP_ERROR):
        return _rate_limited(record, headers)
    try:
        reply = wire.reply(body, call)
    except RequestRejectedError as exc:
        return _rejected(record, headers, str(exc))

    record = replace(record, model=reply.model, response_id=reply.response_id)
    if record.streaming and reply.frames:
        return FrameStreamResponse(
            reply.frames, reply.stream_error, plan, record, headers
        )
    return await _json_reply(reply, plan, record, headers)


async def _json_reply(
    reply: Reply, plan: Plan, record: CallRecorder, headers: dict[str, str]
) -> Response:
    if plan.has(Scenario.SLOW):
        await asyncio.sleep(plan.delay_s)
    content = json.dumps(reply.body, separators=(",", ":")).encode()
    if plan.has(Scenario.GZIP):
        content = gzip_bytes(content)
        headers = {**headers, "content-encoding": "gzip"}

    if plan.has(Scenario.CUT):
        record(Outcome.TRUNCATED, None, None)
        return CutBodyResponse(content, media_type=JSON_TYPE, headers=headers)
    record(Outcome.OK, None, reply.usage)
    return Response(content, media_type=JSON_TYPE, headers=headers)


def _rate_limited(record: CallRecorder, headers: dict[str, str]) -> Response:
    message = "Simulated rate limit (x-sim-scenario: http-error); retry later."
    headers = {**headers, "retry-after": str(RETRY_AFTER_SECONDS)}
    return _error(record, ErrorKind.RATE_LIMIT, message, headers)


def _rejected(record: CallRecorder, headers: dict[str, str], message: str) -> Response:
    log.warning("simulator.call.rejected api=%s", record.wire.api)
    return _error(record, ErrorKind.INVALID_REQUEST, message, headers)


def _error(
    record: CallRecorder, kind: ErrorKind, message: str, headers: dict[str, str]
) -> Response:
    wire = record.wire
    record(Outcome.ERROR, wire.error_type(kind), None, http_status=kind.value)
    body = wire.error_body(kind, message, record.call)
    return JSONResponse(body, status_code=kind.value, headers=headers)


def _recorded_path(request: Request) -> str:
    """The path, with only query parameters known to hold no secret (not ``key=``)."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k in SAFE_QUERY]
    query = urlencode(kept)
    return request.url.path + (f"?{query}" if query else "")


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise RequestRejectedError(f"the body is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise RequestRejectedError("the body must be a JSON object")
    return value


def _model(body: Mapping[str, Any]) -> str | None:
    model = body.get("model")
    return model if isinstance(model, str) else None
