"""The official openai SDK against the simulator, checked against the ledger.

Hand-worked numbers: the chat message ``{"content":"hi","role":"user"}`` is 30
bytes, 7 prompt tokens, so the answer has 5 + 7 % 11 = 12 words. A Responses input
``"hi"`` is 4 bytes, 1 token, so 6 words. Reasoning models (o*, gpt-5*) add
32 * (1 + prompt_tokens % 4) reasoning tokens.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.simulator.conftest import ledger_entry

CHAT_MODEL = "gpt-4o-mini"
HI: list[Any] = [{"role": "user", "content": "hi"}]
TWELVE_WORDS = (
    "Simulated answer from the spendtap provider simulator, counting every token "
    "honestly. Simulated"
)
SIX_WORDS = "Simulated answer from the spendtap provider"
WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
CHAT_TOOL: Any = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA},
}
RESPONSES_TOOL: Any = {
    "type": "function",
    "name": "get_weather",
    "parameters": WEATHER_SCHEMA,
}
# {"content":"<n>","role":"user"} is 28 + n bytes: n = 4372 gives 1100 tokens.
CONTENT_FOR_1100_TOKENS = 4372


def test_chat_create_hand_computed_usage_matches_ledger(
    gpt: openai.OpenAI, ledger_path: Path
) -> None:
    completion = gpt.chat.completions.create(model=CHAT_MODEL, messages=HI)

    usage = completion.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        7,
        12,
        19,
    )
    assert completion.choices[0].message.content == TWELVE_WORDS
    assert completion.model == CHAT_MODEL
    entry = ledger_entry(ledger_path, completion.id)
    assert entry.usage == usage.to_dict()
    assert (entry.provider, entry.api, entry.streaming) == (
        "openai",
        "chat_completions",
        False,
    )


def test_chat_request_id_header(gpt: openai.OpenAI) -> None:
    raw = gpt.chat.completions.with_raw_response.create(model=CHAT_MODEL, messages=HI)
    completion = raw.parse()

    number = completion.id.removeprefix("chatcmpl-sim_")
    assert raw.headers["x-request-id"] == f"req_sim_{number}"


def test_chat_stream_with_include_usage_ends_with_usage_chunk(
    gpt: openai.OpenAI, ledger_path: Path
) -> None:
    stream = gpt.chat.completions.create(
        model=CHAT_MODEL,
        messages=HI,
        stream=True,
        stream_options={"include_usage": True},
    )
    with stream:
        chunks = list(stream)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == TWELVE_WORDS
    assert [c.usage is not None for c in chunks].count(True) == 1
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (7, 12)
    assert ledger_entry(ledger_path, last.id).usage == last.usage.to_dict()


def test_chat_stream_without_include_usage_has_no_usage(
    gpt: openai.OpenAI, ledger_path: Path
) -> None:
    stream = gpt.chat.completions.create(model=CHAT_MODEL, messages=HI, stream=True)
    with stream:
        chunks = list(stream)

    assert all(c.usage is None for c in chunks)
    entry = ledger_entry(ledger_path, chunks[0].id)
    assert (entry.status, entry.usage) == ("ok", None)


def test_chat_reasoning_model_reports_reasoning_inside_completion(
    gpt: openai.OpenAI,
) -> None:
    completion = gpt.chat.completions.create(model="o4-mini", messages=HI)

    usage = completion.usage
    assert usage is not None and usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 128  # 32 * (1 + 7 % 4)
    assert usage.completion_tokens == 140


def test_chat_repeated_long_prefix_reports_cached_tokens(
    gpt: openai.OpenAI, ledger_path: Path
) -> None:
    content = (uuid.uuid4().hex * 200)[:CONTENT_FOR_1100_TOKENS]
    messages: list[Any] = [{"role": "user", "content": content}]

    first = gpt.chat.completions.create(model=CHAT_MODEL, messages=messages)
    second = gpt.chat.completions.create(model=CHAT_MODEL, messages=messages)

    assert first.usage is not None and second.usage is not None
    assert first.usage.prompt_tokens == 1100
    assert first.usage.prompt_tokens_details is not None
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    assert second.usage.prompt_tokens_details is not None
    assert second.usage.prompt_tokens_details.cached_tokens == 1024
    assert ledger_entry(ledger_path, second.id).usage == second.usage.to_dict()


def test_chat_tool_call_then_tool_result(gpt: openai.OpenAI) -> None:
    ask: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]

    first = gpt.chat.completions.create(
        model=CHAT_MODEL, messages=ask, tools=[CHAT_TOOL]
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert (call.function.name, call.function.arguments) == (
        "get_weather",
        '{"city":"spendtap"}',
    )

    turn = [
        *ask,
        choice.message.to_dict(),
        {"role": "tool", "tool_call_id": call.id, "content": "Sunny"},
    ]
    second = gpt.chat.completions.create(
        model=CHAT_MODEL, messages=turn, tools=[CHAT_TOOL]
    )
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content


def test_chat_streamed_tool_call_arguments_assemble(gpt: openai.OpenAI) -> None:
    stream = gpt.chat.completions.create(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": "Weather?"}],
        tools=[CHAT_TOOL],
        stream=True,
    )
    with stream:
        chunks = list(stream)

    arguments = "".join(
        c.choices[0].delta.tool_calls[0].function.arguments or ""
        for c in chunks
        if c.choices
        and c.choices[0].delta.tool_calls
        and c.choices[0].delta.tool_calls[0].function
    )
    assert arguments == '{"city":"spendtap"}'
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_responses_create_hand_computed_usage_matches_ledger(
    gpt: openai.OpenAI, ledger_path: Path
) -> None:
    response = gpt.responses.create(model="gpt-4.1", input="hi")

    assert response.output_text == SIX_WORDS
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (1, 6)
    assert response.id.startswith("resp_sim_")
    entry = ledger_entry(ledger_path, response.id)
    assert entry.usage == response.usage.to_dict()
    assert entry.api == "responses"


def test_responses_stream_helper_final_response_matches_ledger(
    gpt: openai.OpenAI, ledger_path: Path
) -> None:
    with gpt.responses.stream(model="gpt-5", input="hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()

    assert "".join(deltas) == SIX_WORDS
    assert final.usage is not None
    assert final.usage.output_tokens_details.reasoning_tokens == 64  # 32 * (1 + 1 % 4)
    assert final.usage.output_tokens == 70
    assert ledger_entry(ledger_path, final.id).usage == final.usage.to_dict()


def test_responses_raw_stream_starts_created_and_ends_completed(
    gpt: openai.OpenAI,
) -> None:
    stream = gpt.responses.create(model="gpt-4.1", input="hi", stream=True)
    with stream:
        events = list(stream)

    kinds = [e.type for e in events]
    assert kinds[0] == "response.created"
    assert kinds[-1] == "response.completed"
    assert kinds.count("response.output_text.delta") == 6
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_responses_function_call_then_output(gpt: openai.OpenAI) -> None:
    first = gpt.responses.create(
        model="gpt-4.1", input="Weather in Paris?", tools=[RESPONSES_TOOL]
    )
    call = first.output[0]
    assert call.type == "function_call"
    assert (call.name, call.arguments) == ("get_weather", '{"city":"spendtap"}')

    turn: Any = [
        {"role": "user", "content": "Weather in Paris?"},
        call.to_dict(),
        {"type": "function_call_output", "call_id": call.call_id, "output": "Sunny"},
    ]
    second = gpt.responses.create(model="gpt-4.1", tools=[RESPONSES_TOOL], input=turn)
    assert second.output_text


def test_responses_streamed_function_call(gpt: openai.OpenAI) -> None:
    with gpt.responses.stream(
        model="gpt-4.1", input="Weather?", tools=[RESPONSES_TOOL]
    ) as stream:
        final = stream.get_final_response()

    call = final.output[0]
    assert call.type == "function_call"
    assert call.arguments == '{"city":"spendtap"}'


def test_responses_max_output_tokens_makes_it_incomplete(gpt: openai.OpenAI) -> None:
    response = gpt.responses.create(model="gpt-4.1", input="hi", max_output_tokens=4)

    assert response.status == "incomplete"
    assert response.usage is not None and response.usage.output_tokens == 4


def test_unknown_path_is_a_404_in_openai_shape(gpt: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        gpt.post("/embeddings-nowhere", body={}, cast_to=object)

    assert caught.value.status_code == 404
