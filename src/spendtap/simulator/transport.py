"""How a reply goes on the wire, as the test scenario asks.

Scenarios come from the ``x-sim-scenario`` request header (comma-separated):

    slow             stream events ``x-sim-delay-ms`` apart (default 300 ms); a
                     non-streaming answer waits that long once
    cut              the stream stops half-way, before its terminal events, and the
                     connection is closed (a JSON body: half of it, then closed)
    error-in-stream  a 200 stream sends its first event, then the provider's error
                     event (overloaded), then ends
    http-error       429 with the provider's JSON error body and ``retry-after``
    gzip             the body is gzip-encoded (a stream: each event flushed)

The ledger line is written before the last byte goes out (see ``ledger``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import logging
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from spendtap.simulator.wire import Frame, RequestRejectedError, StreamError

log = logging.getLogger(__name__)

SCENARIO_HEADER = "x-sim-scenario"
DELAY_HEADER = "x-sim-delay-ms"
DEFAULT_DELAY_MS = 300
MAX_DELAY_MS = 60_000
RETRY_AFTER_SECONDS = 1
GZIP_WBITS = 31

#: Set in the task that closed a connection on purpose, so uvicorn's complaint about
#: the unfinished response is not logged as a server fault.
deliberate_cut: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "spendtap_simulator_deliberate_cut", default=False
)


class Scenario(enum.StrEnum):
    SLOW = "slow"
    CUT = "cut"
    ERROR_IN_STREAM = "error-in-stream"
    HTTP_ERROR = "http-error"
    GZIP = "gzip"


class Outcome(enum.StrEnum):
    """How the call ended, in the usage event's words."""

    OK = "ok"
    ERROR = "error"
    TRUNCATED = "truncated"


@dataclass(frozen=True, slots=True)
class Plan:
    scenarios: frozenset[Scenario]
    delay_s: float

    def has(self, scenario: Scenario) -> bool:
        return scenario in self.scenarios

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(s.value for s in self.scenarios))


#: Called once per call with (outcome, error type, usage on the wire).
Record = Callable[[Outcome, str | None, Mapping[str, Any] | None], None]


def read_plan(headers: Mapping[str, str]) -> Plan:
    """The scenario plan of a request; raises RequestRejectedError for a bad header."""
    scenarios: set[Scenario] = set()
    for name in headers.get(SCENARIO_HEADER, "").split(","):
        name = name.strip().lower()
        if not name:
            continue
        try:
            scenarios.add(Scenario(name))
        except ValueError:
            known = ", ".join(s.value for s in Scenario)
            raise RequestRejectedError(
                f"{SCENARIO_HEADER}: unknown scenario {name!r}; use one of {known}"
            ) from None
    return Plan(frozenset(scenarios), _delay_s(headers.get(DELAY_HEADER)))


def _delay_s(raw: str | None) -> float:
    if raw is None:
        return DEFAULT_DELAY_MS / 1000
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_DELAY_MS:
        raise RequestRejectedError(
            f"{DELAY_HEADER}: {raw!r} is not a delay; give whole milliseconds "
            f"from 0 to {MAX_DELAY_MS}"
        )
    return value / 1000


def gzip_bytes(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=GZIP_WBITS)
    return compressor.compress(data) + compressor.flush()


class CutBodyResponse(Response):
    """Announces the whole body's length, sends half of it, and closes."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": self.status_code,
                "headers": self.raw_headers,
            }
        )
        half = self.body[: len(self.body) // 2]
        await send({"type": "http.response.body", "body": half, "more_body": True})
        deliberate_cut.set(True)


class FrameStreamResponse(Response):
    """An SSE stream of prepared frames, shaped by the plan.

    The usage a client holds is followed frame by frame, so the ledger gets exactly
    what went out, including for cut and errored streams.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        frames: Sequence[Frame],
        stream_error: StreamError | None,
        plan: Plan,
        record: Record,
        headers: Mapping[str, str],
    ) -> None:
        extra = {"cache-control": "no-cache", **headers}
        if plan.has(Scenario.GZIP):
            extra["content-encoding"] = "gzip"
        super().__init__(content=None, headers=extra)
        self.raw_headers = [
            (k, v)
            for k, v in self.raw_headers
            if k not in (b"content-length", b"content-type")
        ] + [(b"content-type", b"text/event-stream; charset=utf-8")]
        self._frames = frames
        self._error = stream_error
        self._plan = plan
        self._record = record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = asyncio.Event()
        watcher = asyncio.create_task(_watch_disconnect(receive, gone))
        try:
            await self._stream(send, gone)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _stream(self, send: Send, gone: asyncio.Event) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": self.raw_headers,
            }
        )
        frames, outcome, error_type = self._shape()
        compressor = (
            zlib.compressobj(wbits=GZIP_WBITS)
            if self._plan.has(Scenario.GZIP)
            else None
        )
        usage: Mapping[str, Any] | None = None

        for index, frame in enumerate(frames):
            if index and self._plan.has(Scenario.SLOW):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(gone.wait(), self._plan.delay_s)
            if gone.is_set():
                log.info("simulator.stream.client_closed sent=%d", index)
                self._record(Outcome.TRUNCATED, None, usage)
                return
            usage = frame.usage if frame.usage is not None else usage
            if index == len(frames) - 1:
                self._record(outcome, error_type, usage)
            data = frame.data
            if compressor is not None:
                data = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
            await send({"type": "http.response.body", "body": data, "more_body": True})

        if outcome is Outcome.TRUNCATED:
            deliberate_cut.set(True)
            return
        tail = compressor.flush() if compressor is not None else b""
        await send({"type": "http.response.body", "body": tail, "more_body": False})

    def _shape(self) -> tuple[list[Frame], Outcome, str | None]:
        """The frames to send and how the call will have ended."""
        frames = list(self._frames)
        if self._plan.has(Scenario.ERROR_IN_STREAM) and self._error is not None:
            return (
                [*frames[:1], self._error.frame],
                Outcome.ERROR,
                self._error.error_type,
            )
        if self._plan.has(Scenario.CUT):
            return frames[: max(1, len(frames) // 2)], Outcome.TRUNCATED, None
        return frames, Outcome.OK, None


async def _watch_disconnect(receive: Receive, gone: asyncio.Event) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return


class DeliberateCutFilter(logging.Filter):
    """Drops uvicorn's error line for a response the simulator cut on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            deliberate_cut.get()
            and record.getMessage().startswith("ASGI callable returned without")
        )
