"""The official anthropic SDK against the simulator, checked against the ledger.

Hand-worked numbers: ``"hi"`` as the only prompt piece is 4 bytes, 1 input token;
the answer then has 5 + 1 % 11 = 6 words, one output token each.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.simulator.conftest import last_entry, ledger_entry

MODEL = "claude-haiku-4-5"
HI: Any = [{"role": "user", "content": "hi"}]
SIX_WORDS = "Simulated answer from the spendtap provider"
WEATHER_TOOL: Any = {
    "name": "get_weather",
    "description": "Weather of a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
# {"text":"<n>","type":"text"} is 25 + n bytes: n = 4775 gives 4800 bytes, 1200 tokens.
SYSTEM_TEXT_FOR_1200_TOKENS = 4775


def _system_block(ttl: str) -> Any:
    unique = uuid.uuid4().hex  # a prefix no other test has cached
    text = (unique + "s" * SYSTEM_TEXT_FOR_1200_TOKENS)[:SYSTEM_TEXT_FOR_1200_TOKENS]
    return {
        "type": "text",
        "text": text,
        "cache_control": {"type": "ephemeral", "ttl": ttl},
    }


def test_create_reports_hand_computed_usage_and_matches_ledger(
    claude: anthropic.Anthropic, ledger_path: Path
) -> None:
    message = claude.messages.create(model=MODEL, max_tokens=100, messages=HI)

    assert message.content[0].type == "text"
    assert message.content[0].text == SIX_WORDS
    assert (message.usage.input_tokens, message.usage.output_tokens) == (1, 6)
    assert message.model == MODEL
    assert message.id.startswith("msg_sim_")
    entry = ledger_entry(ledger_path, message.id)
    assert entry.usage == message.usage.to_dict()
    assert (entry.status, entry.streaming, entry.api) == ("ok", False, "messages")


def test_request_id_header_follows_the_message_number(
    claude: anthropic.Anthropic,
) -> None:
    raw = claude.messages.with_raw_response.create(
        model=MODEL, max_tokens=100, messages=HI
    )
    message = raw.parse()

    number = message.id.removeprefix("msg_sim_")
    assert raw.headers["request-id"] == f"req_sim_{number}"


def test_stream_helper_final_message_matches_ledger(
    claude: anthropic.Anthropic, ledger_path: Path
) -> None:
    with claude.messages.stream(model=MODEL, max_tokens=100, messages=HI) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert text == SIX_WORDS
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (1, 6)
    entry = ledger_entry(ledger_path, final.id)
    assert entry.usage == final.usage.to_dict()
    assert entry.streaming is True


def test_raw_stream_has_the_real_event_sequence(claude: anthropic.Anthropic) -> None:
    stream = claude.messages.create(
        model=MODEL, max_tokens=100, messages=HI, stream=True
    )
    with stream:
        kinds = [event.type for event in stream]

    assert kinds == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 6,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]  # the SDK drops the ping


def test_stream_start_carries_placeholder_and_delta_the_totals(
    claude: anthropic.Anthropic,
) -> None:
    stream = claude.messages.create(
        model=MODEL, max_tokens=100, messages=HI, stream=True
    )
    with stream:
        events = list(stream)

    start = events[0]
    delta = events[-2]
    assert start.type == "message_start" and delta.type == "message_delta"
    assert start.message.usage.output_tokens == 1
    assert delta.usage.output_tokens == 6
    assert delta.usage.input_tokens == 1


def test_beta_query_path_is_served_and_recorded(
    claude: anthropic.Anthropic, ledger_path: Path
) -> None:
    # The TypeScript SDK (Claude Code) adds ?beta=true to beta calls; Python does not.
    message = claude.beta.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=HI,
        betas=["context-1m-2025-08-07"],
        extra_query={"beta": "true"},
    )

    entry = ledger_entry(ledger_path, message.id)
    assert entry.path == "/v1/messages?beta=true"


def test_prompt_cache_writes_first_and_reads_second_with_ttl_split(
    claude: anthropic.Anthropic, ledger_path: Path
) -> None:
    system = [_system_block("1h")]
    # The question '"Summarise it."' is 15 bytes: 4815 bytes in all, 1203 tokens.
    ask: Any = [{"role": "user", "content": "Summarise it."}]

    first = claude.messages.create(
        model=MODEL, max_tokens=50, system=system, messages=ask
    )
    second = claude.messages.create(
        model=MODEL, max_tokens=50, system=system, messages=ask
    )

    u1, u2 = first.usage, second.usage
    assert (
        u1.input_tokens,
        u1.cache_creation_input_tokens,
        u1.cache_read_input_tokens,
    ) == (3, 1200, 0)
    assert u1.cache_creation is not None
    assert u1.cache_creation.ephemeral_1h_input_tokens == 1200
    assert u1.cache_creation.ephemeral_5m_input_tokens == 0
    assert (
        u2.input_tokens,
        u2.cache_creation_input_tokens,
        u2.cache_read_input_tokens,
    ) == (3, 0, 1200)
    assert ledger_entry(ledger_path, first.id).usage == u1.to_dict()
    assert ledger_entry(ledger_path, second.id).usage == u2.to_dict()


def test_cache_write_without_ttl_is_five_minutes(claude: anthropic.Anthropic) -> None:
    block = _system_block("5m")
    block["cache_control"] = {"type": "ephemeral"}

    message = claude.messages.create(
        model=MODEL, max_tokens=50, system=[block], messages=HI
    )

    assert message.usage.cache_creation is not None
    assert message.usage.cache_creation.ephemeral_5m_input_tokens == 1200


def test_top_level_cache_control_caches_up_to_the_last_block(
    claude: anthropic.Anthropic,
) -> None:
    # One message string of 3998 characters: 4000 bytes as JSON, 1000 tokens.
    text = (uuid.uuid4().hex * 200)[:3998]
    ask: Any = [{"role": "user", "content": text}]

    first = claude.messages.create(
        model=MODEL, max_tokens=50, messages=ask, cache_control={"type": "ephemeral"}
    )
    second = claude.messages.create(
        model=MODEL, max_tokens=50, messages=ask, cache_control={"type": "ephemeral"}
    )

    assert (first.usage.cache_creation_input_tokens, first.usage.input_tokens) == (
        1000,
        0,
    )
    assert (second.usage.cache_read_input_tokens, second.usage.input_tokens) == (
        1000,
        0,
    )


def test_streamed_cache_read_matches_ledger(
    claude: anthropic.Anthropic, ledger_path: Path
) -> None:
    system = [_system_block("5m")]
    claude.messages.create(model=MODEL, max_tokens=50, system=system, messages=HI)

    with claude.messages.stream(
        model=MODEL, max_tokens=50, system=system, messages=HI
    ) as stream:
        final = stream.get_final_message()

    assert final.usage.cache_read_input_tokens == 1200
    assert ledger_entry(ledger_path, final.id).usage == final.usage.to_dict()


def test_tool_turn_then_tool_result_turn(
    claude: anthropic.Anthropic, ledger_path: Path
) -> None:
    ask: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]

    call = claude.messages.create(
        model=MODEL, max_tokens=200, tools=[WEATHER_TOOL], messages=ask
    )
    block = call.content[0]
    assert call.stop_reason == "tool_use"
    assert block.type == "tool_use"
    assert (block.name, block.input) == ("get_weather", {"city": "spendtap"})
    # 8 per call + '{"city":"spendtap"}' (19 bytes) // 4
    assert call.usage.output_tokens == 12

    turn = [
        *ask,
        {"role": "assistant", "content": [block.to_dict()]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": block.id, "content": "Sunny"}
            ],
        },
    ]
    answer = claude.messages.create(
        model=MODEL, max_tokens=200, tools=[WEATHER_TOOL], messages=turn
    )
    assert answer.stop_reason == "end_turn"
    assert answer.content[0].type == "text"
    assert ledger_entry(ledger_path, answer.id).usage == answer.usage.to_dict()


def test_streamed_tool_use_arguments_assemble(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(
        model=MODEL,
        max_tokens=200,
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "Weather?"}],
    ) as stream:
        final = stream.get_final_message()

    block = final.content[0]
    assert block.type == "tool_use"
    assert block.input == {"city": "spendtap"}
    assert final.stop_reason == "tool_use"


def test_tool_choice_none_answers_with_text(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model=MODEL,
        max_tokens=200,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "none"},
        messages=[{"role": "user", "content": "Weather?"}],
    )

    assert message.content[0].type == "text"


def test_coding_agent_requests_get_text_not_tools(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model=MODEL,
        max_tokens=200,
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "Weather?"}],
        extra_headers={"x-app": "cli"},
    )

    assert message.content[0].type == "text"


def test_max_tokens_cuts_the_answer(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(model=MODEL, max_tokens=3, messages=HI)

    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 3


def test_count_tokens_is_recorded(
    claude: anthropic.Anthropic, ledger_path: Path
) -> None:
    counted = claude.messages.count_tokens(model=MODEL, messages=HI)

    assert counted.input_tokens == 1
    entry = last_entry(ledger_path)
    assert (entry.api, entry.usage, entry.response_id) == (
        "count_tokens",
        {"input_tokens": 1},
        None,
    )


def test_missing_max_tokens_is_a_400_naming_the_field(
    claude: anthropic.Anthropic, ledger_path: Path
) -> None:
    with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        claude.post(
            "/v1/messages",
            body={"model": MODEL, "messages": HI},
            cast_to=object,
        )

    entry = last_entry(ledger_path)
    assert (entry.status, entry.http_status, entry.error_type) == (
        "error",
        400,
        "invalid_request_error",
    )


def test_ledger_never_holds_prompt_or_answer_text(
    claude: anthropic.Anthropic, ledger_path: Path
) -> None:
    secret = "zebra-" + uuid.uuid4().hex
    claude.messages.create(
        model=MODEL, max_tokens=50, messages=[{"role": "user", "content": secret}]
    )

    text = ledger_path.read_text()
    assert secret not in text
    assert "spendtap provider" not in text
