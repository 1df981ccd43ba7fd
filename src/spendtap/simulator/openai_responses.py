"""OpenAI Responses API (``POST /v1/responses``).

Usage as the API gives it: ``input_tokens`` includes ``cached_tokens``,
``output_tokens`` includes ``reasoning_tokens``. A stream opens with
``response.created`` and ``response.in_progress`` (no usage), sends the output items
with their deltas, and ends with ``response.completed`` (or ``response.incomplete``
when ``max_output_tokens`` cut the text), which carries the usage. Prompt pieces:
the instructions, each tool, then the input (a string, or each input item).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spendtap.simulator import openai_family
from spendtap.simulator.answer import (
    Answer,
    Turn,
    is_agent_request,
    make_answer,
    tool_offers,
)
from spendtap.simulator.tokens import Piece, count_tokens, make_piece
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

JSON_DELTA_CHARS = 16
USER_TEXT_TYPES = ("input_text", "text")


def _pieces(body: Mapping[str, Any]) -> list[Piece]:
    values: list[object] = []
    if body.get("instructions"):
        values.append(body["instructions"])
    values.extend(_tools(body))
    given = body.get("input")
    if isinstance(given, list):
        values.extend(given)
    elif isinstance(given, str):
        values.append(given)
    else:
        raise RequestRejectedError("input: field required (a string or a list)")
    return [make_piece(v) for v in values]


def _tools(body: Mapping[str, Any]) -> list[Any]:
    tools = body.get("tools")
    return tools if isinstance(tools, list) else []


def _last_user_text(given: object) -> str | None:
    if isinstance(given, str):
        return given
    if not isinstance(given, list) or not given or not isinstance(given[-1], Mapping):
        return None
    last = given[-1]
    if last.get("type", "message") != "message" or last.get("role") != "user":
        return None
    return openai_family.text_of(last.get("content"), USER_TEXT_TYPES)


def _turn(body: Mapping[str, Any], prompt_tokens: int, call: CallContext) -> Turn:
    forced, disabled = openai_family.forced_tool(body.get("tool_choice"))
    limit = body.get("max_output_tokens")
    return Turn(
        prompt_tokens=prompt_tokens,
        max_tokens=limit if isinstance(limit, int) else None,
        tools=tool_offers(_tools(body), nested_function=False),
        forced_tool=forced,
        tools_disabled=disabled,
        last_user_text=_last_user_text(body.get("input")),
        from_agent=is_agent_request(call.headers),
    )


def _output(answer: Answer, reasoning: int, number: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if reasoning:
        items.append({"type": "reasoning", "id": f"rs_sim_{number}", "summary": []})
    if answer.tool_call is not None:
        items.append(
            {
                "type": "function_call",
                "id": f"fc_sim_{number}",
                "call_id": f"call_sim_{number}",
                "name": answer.tool_call.name,
                "arguments": answer.tool_call.arguments,
                "status": "completed",
            }
        )
        return items
    text = {
        "type": "output_text",
        "text": answer.text,
        "annotations": [],
        "logprobs": [],
    }
    items.append(
        {
            "type": "message",
            "id": f"msg_sim_{number}",
            "status": "incomplete" if answer.hit_max_tokens else "completed",
            "role": "assistant",
            "content": [text],
        }
    )
    return items


def _usage(prompt: int, cached: int, answer: Answer, reasoning: int) -> dict[str, Any]:
    output = answer.output_tokens + reasoning
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + output,
    }


def _response(body: Mapping[str, Any], call: CallContext, model: str) -> dict[str, Any]:
    """The response object without output and usage, status in progress."""
    return {
        "id": f"resp_sim_{call.number}",
        "object": "response",
        "created_at": call.created,
        "status": "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": [],
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "store": body.get("store", True),
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": _tools(body),
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": None,
        "user": None,
        "metadata": {},
    }


class ResponsesWire:
    provider = Provider.OPENAI
    api = "responses"
    request_id_header = "x-request-id"

    def reply(self, body: Mapping[str, Any], call: CallContext) -> Reply:
        model = require_model(body)
        pieces = _pieces(body)
        prompt = count_tokens(pieces)
        cached = call.cache.openai(model, pieces)
        answer = make_answer(_turn(body, prompt, call))
        reasoning = openai_family.reasoning_tokens(model, prompt)

        usage = _usage(prompt, cached, answer, reasoning)
        started = _response(body, call, model)
        final = {
            **started,
            "status": "incomplete" if answer.hit_max_tokens else "completed",
            "output": _output(answer, reasoning, call.number),
            "usage": usage,
        }
        if answer.hit_max_tokens:
            final["incomplete_details"] = {"reason": "max_output_tokens"}
        overloaded = {
            "type": "error",
            "code": "server_error",
            "message": "The server is overloaded, retry later.",
            "param": None,
            "sequence_number": 1,
        }
        return Reply(
            model=model,
            response_id=str(final["id"]),
            body=final,
            usage=usage,
            frames=tuple(_frames(started, final, answer)),
            stream_error=StreamError(Frame(sse("error", overloaded)), "server_error"),
        )

    def error_body(
        self, kind: ErrorKind, message: str, call: CallContext | None
    ) -> dict[str, Any]:
        return openai_family.error_body(kind, message, call)

    def error_type(self, kind: ErrorKind) -> str:
        return openai_family.error_type(kind)


class _Events:
    """Numbers the events of one stream as the API does (``sequence_number``)."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def add(
        self, kind: str, usage: Mapping[str, Any] | None = None, **fields: Any
    ) -> None:
        payload = {"type": kind, "sequence_number": len(self.frames), **fields}
        self.frames.append(Frame(sse(kind, payload), usage))


def _frames(
    started: Mapping[str, Any], final: Mapping[str, Any], answer: Answer
) -> list[Frame]:
    events = _Events()
    events.add("response.created", response=started)
    events.add("response.in_progress", response=started)
    for index, item in enumerate(final["output"]):
        _item_events(events, index, item, answer)
    terminal = "response.completed"
    if final["status"] == "incomplete":
        terminal = "response.incomplete"
    events.add(terminal, final["usage"], response=final)
    return events.frames


def _item_events(
    events: _Events, index: int, item: Mapping[str, Any], answer: Answer
) -> None:
    kind = item["type"]
    item_id = item["id"]
    if kind == "message":
        opening = {**item, "status": "in_progress", "content": []}
        part = item["content"][0]
        events.add("response.output_item.added", output_index=index, item=opening)
        where = {"item_id": item_id, "output_index": index, "content_index": 0}
        events.add("response.content_part.added", **where, part={**part, "text": ""})
        for delta in answer.text_deltas():
            events.add("response.output_text.delta", **where, delta=delta, logprobs=[])
        events.add("response.output_text.done", **where, text=part["text"], logprobs=[])
        events.add("response.content_part.done", **where, part=part)
    elif kind == "function_call":
        opening = {**item, "status": "in_progress", "arguments": ""}
        events.add("response.output_item.added", output_index=index, item=opening)
        args = item["arguments"]
        where = {"item_id": item_id, "output_index": index}
        for i in range(0, len(args), JSON_DELTA_CHARS):
            delta = args[i : i + JSON_DELTA_CHARS]
            events.add("response.function_call_arguments.delta", **where, delta=delta)
        events.add(
            "response.function_call_arguments.done",
            **where,
            name=item["name"],
            arguments=args,
        )
    else:
        events.add("response.output_item.added", output_index=index, item=item)
    events.add("response.output_item.done", output_index=index, item=item)
