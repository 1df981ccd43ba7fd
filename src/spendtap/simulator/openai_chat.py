"""OpenAI Chat Completions (``POST /v1/chat/completions``).

Usage as the API gives it: ``prompt_tokens`` includes ``cached_tokens``,
``completion_tokens`` includes ``reasoning_tokens``. A stream carries usage only when
the request sets ``stream_options.include_usage``: then every chunk has
``"usage": null`` and one last chunk with no choices carries it, before
``data: [DONE]``. Prompt pieces: each tool, then each message object whole.
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
from spendtap.simulator.tokens import count_tokens, make_piece
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
SERVICE_TIER = "default"


def _messages(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestRejectedError("messages: field required (a non-empty list)")
    if not all(isinstance(m, Mapping) for m in messages):
        raise RequestRejectedError("messages: each message must be an object")
    return messages


def _tools(body: Mapping[str, Any]) -> list[Any]:
    tools = body.get("tools")
    return tools if isinstance(tools, list) else []


def _turn(body: Mapping[str, Any], prompt_tokens: int, call: CallContext) -> Turn:
    last = _messages(body)[-1]
    text = None
    if last.get("role") == "user":
        text = openai_family.text_of(last.get("content"), ("text",))
    forced, disabled = openai_family.forced_tool(body.get("tool_choice"))
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    return Turn(
        prompt_tokens=prompt_tokens,
        max_tokens=limit if isinstance(limit, int) else None,
        tools=tool_offers(_tools(body), nested_function=True),
        forced_tool=forced,
        tools_disabled=disabled,
        last_user_text=text,
        from_agent=is_agent_request(call.headers),
    )


def _usage(prompt: int, cached: int, answer: Answer, reasoning: int) -> dict[str, Any]:
    completion = answer.output_tokens + reasoning
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _finish_reason(answer: Answer) -> str:
    if answer.tool_call is not None:
        return "tool_calls"
    return "length" if answer.hit_max_tokens else "stop"


def _message(answer: Answer, number: int) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": answer.text if answer.tool_call is None else None,
        "refusal": None,
        "annotations": [],
    }
    if answer.tool_call is not None:
        message["tool_calls"] = [
            {
                "id": f"call_sim_{number}",
                "type": "function",
                "function": {
                    "name": answer.tool_call.name,
                    "arguments": answer.tool_call.arguments,
                },
            }
        ]
    return message


class ChatCompletionsWire:
    provider = Provider.OPENAI
    api = "chat_completions"
    request_id_header = "x-request-id"

    def reply(self, body: Mapping[str, Any], call: CallContext) -> Reply:
        model = require_model(body)
        messages = _messages(body)
        pieces = [make_piece(v) for v in [*_tools(body), *messages]]
        prompt = count_tokens(pieces)
        cached = call.cache.openai(model, pieces)
        answer = make_answer(_turn(body, prompt, call))
        reasoning = openai_family.reasoning_tokens(model, prompt)

        usage = _usage(prompt, cached, answer, reasoning)
        head = {
            "id": f"chatcmpl-sim_{call.number}",
            "created": call.created,
            "model": model,
            "service_tier": SERVICE_TIER,
            "system_fingerprint": openai_family.SYSTEM_FINGERPRINT,
        }
        choice = {
            "index": 0,
            "message": _message(answer, call.number),
            "logprobs": None,
            "finish_reason": _finish_reason(answer),
        }
        completion = {
            **head,
            "object": "chat.completion",
            "choices": [choice],
            "usage": usage,
        }
        options = body.get("stream_options")
        with_usage = (
            isinstance(options, Mapping) and options.get("include_usage") is True
        )
        overloaded = self.error_body(
            ErrorKind.OVERLOADED, "The server is overloaded, retry later.", None
        )
        return Reply(
            model=model,
            response_id=str(head["id"]),
            body=completion,
            usage=usage,
            frames=tuple(_frames(head, choice, answer, usage if with_usage else None)),
            stream_error=StreamError(
                Frame(sse(None, overloaded)), self.error_type(ErrorKind.OVERLOADED)
            ),
        )

    def error_body(
        self, kind: ErrorKind, message: str, call: CallContext | None
    ) -> dict[str, Any]:
        return openai_family.error_body(kind, message, call)

    def error_type(self, kind: ErrorKind) -> str:
        return openai_family.error_type(kind)


def _frames(
    head: Mapping[str, Any],
    choice: Mapping[str, Any],
    answer: Answer,
    usage: Mapping[str, Any] | None,
) -> list[Frame]:
    """Role chunk, content or tool-call chunks, finish chunk, [usage chunk], [DONE]."""
    base = {**head, "object": "chat.completion.chunk"}
    if usage is not None:
        base["usage"] = None

    def chunk(delta: Mapping[str, Any], finish: str | None = None) -> Frame:
        one = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return Frame(sse(None, {**base, "choices": [one]}))

    message = choice["message"]
    frames = []
    calls = message.get("tool_calls")
    if calls:
        call = calls[0]
        opening = {
            **call,
            "index": 0,
            "function": {**call["function"], "arguments": ""},
        }
        frames.append(
            chunk({"role": "assistant", "content": None, "tool_calls": [opening]})
        )
        args = call["function"]["arguments"]
        for i in range(0, len(args), JSON_DELTA_CHARS):
            part = {
                "index": 0,
                "function": {"arguments": args[i : i + JSON_DELTA_CHARS]},
            }
            frames.append(chunk({"tool_calls": [part]}))
    else:
        frames.append(chunk({"role": "assistant", "content": "", "refusal": None}))
        frames.extend(chunk({"content": d}) for d in answer.text_deltas())
    frames.append(chunk({}, str(choice["finish_reason"])))

    if usage is not None:
        frames.append(Frame(sse(None, {**base, "choices": [], "usage": usage}), usage))
    frames.append(Frame(sse(None, "[DONE]")))
    return frames
