"""Anthropic Messages API (``/v1/messages`` and ``/v1/messages/count_tokens``).

Usage is shaped as the API gives it: ``input_tokens`` excludes cache, reads and writes
are separate, writes are split by TTL under ``cache_creation``. A stream's
``message_start`` carries input and cache counts with an output placeholder of 1;
``message_delta`` carries the final totals.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from spendtap.simulator.answer import (
    Answer,
    Turn,
    is_agent_request,
    make_answer,
    tool_offers,
)
from spendtap.simulator.tokens import CacheOutcome, Piece, count_tokens, make_piece
from spendtap.simulator.wire import (
    CallContext,
    ErrorKind,
    Frame,
    Provider,
    Reply,
    RequestRejectedError,
    StreamError,
    require_model,
    sse,
)

START_OUTPUT_PLACEHOLDER = 1
#: Claude Code's first system block; it changes with every prompt.
BILLING_HEADER_PREFIX = "x-anthropic-billing-header:"
SERVICE_TIER = "standard"
#: Characters of tool arguments per input_json_delta event.
JSON_DELTA_CHARS = 16
#: The usage fields a message_delta repeats (running totals, not increments).
DELTA_USAGE_KEYS = (
    "input_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
)

_ERROR_TYPES = {
    ErrorKind.INVALID_REQUEST: "invalid_request_error",
    ErrorKind.NOT_FOUND: "not_found_error",
    ErrorKind.RATE_LIMIT: "rate_limit_error",
    ErrorKind.OVERLOADED: "overloaded_error",
}


def prompt_pieces(body: Mapping[str, Any]) -> list[Piece]:
    """Tools, system blocks, then every message's content blocks, in that order.

    A top-level ``cache_control`` (automatic caching) makes the last piece a
    breakpoint with its TTL.
    """
    values: list[object] = []
    tools = body.get("tools")
    if isinstance(tools, list):
        values.extend(tools)
    system = body.get("system")
    if isinstance(system, list):
        values.extend(system)
    elif system:
        values.append(system)
    for message in _messages(body):
        content = message.get("content")
        values.extend(content if isinstance(content, list) else [content])
    pieces = [make_piece(v, neutral=_is_billing_header(v)) for v in values]
    automatic = body.get("cache_control")
    if isinstance(automatic, dict) and pieces and pieces[-1].ttl is None:
        ttl = make_piece({"cache_control": automatic}).ttl
        pieces[-1] = replace(pieces[-1], ttl=ttl)
    return pieces


def _is_billing_header(value: object) -> bool:
    text = value.get("text") if isinstance(value, dict) else None
    return isinstance(text, str) and text.startswith(BILLING_HEADER_PREFIX)


def _messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestRejectedError("messages: field required (a non-empty list)")
    if not all(isinstance(m, dict) for m in messages):
        raise RequestRejectedError("messages: each message must be an object")
    return messages


def _turn(body: Mapping[str, Any], prompt_tokens: int, call: CallContext) -> Turn:
    choice = body.get("tool_choice")
    choice_type = choice.get("type") if isinstance(choice, dict) else None
    forced: str | None = None
    if choice_type == "any":
        forced = "*"
    elif choice_type == "tool" and isinstance(choice, dict):
        forced = str(choice.get("name"))
    tools = body.get("tools")
    max_tokens = body.get("max_tokens")
    return Turn(
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        tools=tool_offers(
            tools if isinstance(tools, list) else [], nested_function=False
        ),
        forced_tool=forced,
        tools_disabled=choice_type == "none",
        last_user_text=_last_user_text(_messages(body)[-1]),
        from_agent=is_agent_request(call.headers),
    )


def _last_user_text(message: Mapping[str, Any]) -> str | None:
    if message.get("role") != "user":
        return None
    content = message.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    blocks = [b for b in content if isinstance(b, dict)]
    if any(b.get("type") == "tool_result" for b in blocks):
        return None
    return " ".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")


def _usage(cache: CacheOutcome, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": cache.input_tokens,
        "cache_creation_input_tokens": cache.cache_write_5m + cache.cache_write_1h,
        "cache_read_input_tokens": cache.cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": cache.cache_write_5m,
            "ephemeral_1h_input_tokens": cache.cache_write_1h,
        },
        "output_tokens": output_tokens,
        "service_tier": SERVICE_TIER,
    }


def _stop_reason(answer: Answer) -> str:
    if answer.tool_call is not None:
        return "tool_use"
    return "max_tokens" if answer.hit_max_tokens else "end_turn"


def _content(answer: Answer, number: int) -> list[dict[str, Any]]:
    if answer.tool_call is None:
        return [{"type": "text", "text": answer.text}]
    return [
        {
            "type": "tool_use",
            "id": f"toolu_sim_{number}",
            "name": answer.tool_call.name,
            "input": json.loads(answer.tool_call.arguments),
        }
    ]


class MessagesWire:
    """``POST /v1/messages``, streaming or not."""

    provider = Provider.ANTHROPIC
    api = "messages"
    request_id_header = "request-id"

    def reply(self, body: Mapping[str, Any], call: CallContext) -> Reply:
        model = require_model(body)
        if not isinstance(body.get("max_tokens"), int):
            raise RequestRejectedError("max_tokens: field required (an integer)")
        pieces = prompt_pieces(body)
        cache = call.cache.anthropic(model, pieces)
        prompt_tokens = cache.input_tokens + cache.cache_read
        prompt_tokens += cache.cache_write_5m + cache.cache_write_1h
        answer = make_answer(_turn(body, prompt_tokens, call))

        message_id = f"msg_sim_{call.number}"
        usage = _usage(cache, answer.output_tokens)
        body_out = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": _content(answer, call.number),
            "stop_reason": _stop_reason(answer),
            "stop_sequence": None,
            "usage": usage,
        }
        overloaded = self.error_body(ErrorKind.OVERLOADED, "Overloaded", None)
        return Reply(
            model=model,
            response_id=message_id,
            body=body_out,
            usage=usage,
            frames=tuple(_frames(body_out, answer, cache)),
            stream_error=StreamError(
                Frame(sse("error", overloaded)), self.error_type(ErrorKind.OVERLOADED)
            ),
        )

    def error_body(
        self, kind: ErrorKind, message: str, call: CallContext | None
    ) -> dict[str, Any]:
        return _error_body(kind, message, call)

    def error_type(self, kind: ErrorKind) -> str:
        return _ERROR_TYPES[kind]


def _event(kind: str, holds: Mapping[str, Any] | None = None, **fields: Any) -> Frame:
    """One stream event; ``holds`` is the usage a client has once it is read."""
    return Frame(sse(kind, {"type": kind, **fields}), holds)


def _frames(
    message: Mapping[str, Any], answer: Answer, cache: CacheOutcome
) -> list[Frame]:
    start_usage = _usage(cache, START_OUTPUT_PLACEHOLDER)
    start = dict(message, content=[], stop_reason=None, usage=start_usage)
    block, deltas = _opening(message["content"][0], answer)
    final = message["usage"]
    delta_usage = {key: final[key] for key in DELTA_USAGE_KEYS}
    stop = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    return [
        _event("message_start", start_usage, message=start),
        _event("content_block_start", index=0, content_block=block),
        _event("ping"),
        *(_event("content_block_delta", index=0, delta=d) for d in deltas),
        _event("content_block_stop", index=0),
        _event("message_delta", final, delta=stop, usage=delta_usage),
        _event("message_stop"),
    ]


def _opening(
    block: Mapping[str, Any], answer: Answer
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The content block as content_block_start shows it, and its deltas."""
    if block["type"] == "text":
        deltas = [{"type": "text_delta", "text": t} for t in answer.text_deltas()]
        return {**block, "text": ""}, deltas
    args = answer.tool_call.arguments if answer.tool_call else ""
    deltas = [{"type": "input_json_delta", "partial_json": p} for p in _chunks(args)]
    return {**block, "input": {}}, deltas


def _chunks(text: str) -> list[str]:
    return [""] + [
        text[i : i + JSON_DELTA_CHARS] for i in range(0, len(text), JSON_DELTA_CHARS)
    ]


def _error_body(
    kind: ErrorKind, message: str, call: CallContext | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "error",
        "error": {"type": _ERROR_TYPES[kind], "message": message},
    }
    if call is not None:
        body["request_id"] = call.request_id
    return body


class CountTokensWire:
    """``POST /v1/messages/count_tokens``: the prompt's tokens, cache not touched."""

    provider = Provider.ANTHROPIC
    api = "count_tokens"
    request_id_header = "request-id"

    def reply(self, body: Mapping[str, Any], call: CallContext) -> Reply:
        model = require_model(body)
        counted = {"input_tokens": count_tokens(prompt_pieces(body))}
        return Reply(model=model, response_id=None, body=counted, usage=counted)

    def error_body(
        self, kind: ErrorKind, message: str, call: CallContext | None
    ) -> dict[str, Any]:
        return _error_body(kind, message, call)

    def error_type(self, kind: ErrorKind) -> str:
        return _ERROR_TYPES[kind]
