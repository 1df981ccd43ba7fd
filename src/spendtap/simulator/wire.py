"""What the simulator's wire formats share: the call, the reply, SSE frames, errors.

A wire module turns a request body into a :class:`Reply` holding both answers, the
JSON body and the stream of frames; the transport picks one and applies the scenario.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from spendtap.simulator.tokens import PromptCache


class Provider(enum.StrEnum):
    ANTHROPIC = "anthropic"
    OPENAI = "openai"


class ErrorKind(enum.Enum):
    """The errors the simulator gives, with each provider's HTTP status."""

    INVALID_REQUEST = 400
    NOT_FOUND = 404
    RATE_LIMIT = 429
    OVERLOADED = 529


class RequestRejectedError(Exception):
    """The request body is not one the provider would accept (answered with 400)."""


@dataclass(frozen=True, slots=True)
class CallContext:
    """One call: its number (for ids) and what a reply may depend on."""

    number: int
    headers: Mapping[str, str]
    cache: PromptCache
    created: int  # unix seconds

    @property
    def request_id(self) -> str:
        return f"req_sim_{self.number}"


@dataclass(frozen=True, slots=True)
class Frame:
    """One SSE event as bytes, and the usage a client holds once it has it."""

    data: bytes
    usage: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class StreamError:
    """The error event a stream sends in the ``error-in-stream`` scenario."""

    frame: Frame
    error_type: str


@dataclass(frozen=True, slots=True)
class Reply:
    """Both forms of one answer. ``frames`` is empty where the API cannot stream."""

    model: str
    response_id: str | None
    body: Mapping[str, Any]
    usage: Mapping[str, Any] | None
    frames: tuple[Frame, ...] = ()
    stream_error: StreamError | None = None


class WireFormat(Protocol):
    provider: Provider
    api: str
    request_id_header: str

    def reply(self, body: Mapping[str, Any], call: CallContext) -> Reply:
        """Both forms of the answer; raises RequestRejectedError for a bad body."""

    def error_body(
        self, kind: ErrorKind, message: str, call: CallContext | None
    ) -> Any:
        """The provider's JSON error body."""

    def error_type(self, kind: ErrorKind) -> str:
        """The error type the body names."""


def sse(event: str | None, payload: object) -> bytes:
    """One server-sent event; ``event`` None writes a data-only event."""
    data = payload if isinstance(payload, str) else compact_json(payload)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n".encode()


def compact_json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def is_streaming(body: Mapping[str, Any]) -> bool:
    return body.get("stream") is True


def require_model(body: Mapping[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestRejectedError("model: field required (a model name string)")
    return model
