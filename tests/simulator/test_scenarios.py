"""The x-sim-scenario header: slow, cut, error-in-stream, http-error, gzip."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from spendtap.simulator import read_ledger
from tests.simulator.conftest import last_entry

MODEL = "claude-haiku-4-5"
HI: list[Any] = [{"role": "user", "content": "hi"}]
# "hi" gives 6 words: message_start, content_block_start, ping, 6 deltas,
# content_block_stop, message_delta, message_stop = 12 events, 11 gaps.
EVENTS_FOR_HI = 12
START_USAGE = {
    "input_tokens": 1,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
    "output_tokens": 1,
    "service_tier": "standard",
}


def _scenario(name: str, **extra: str) -> dict[str, str]:
    return {"x-sim-scenario": name, **extra}


def test_slow_stream_delivers_the_first_event_long_before_the_end(
    claude: anthropic.Anthropic,
) -> None:
    started = time.monotonic()
    stream = claude.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=HI,
        stream=True,
        extra_headers=_scenario("slow", **{"x-sim-delay-ms": "100"}),
    )
    with stream:
        first_at: float | None = None
        count = 0
        for _ in stream:
            count += 1
            first_at = first_at or time.monotonic() - started
        total = time.monotonic() - started

    assert count == EVENTS_FOR_HI - 1  # the SDK drops the ping
    assert total >= 0.1 * (EVENTS_FOR_HI - 1) * 0.9
    assert first_at is not None and first_at < 0.5 * total


def test_slow_without_delay_header_waits_300_ms_per_gap(gpt: openai.OpenAI) -> None:
    started = time.monotonic()
    stream = gpt.chat.completions.create(
        model="gpt-4o-mini",
        messages=HI,
        stream=True,
        max_completion_tokens=1,
        extra_headers=_scenario("slow"),
    )
    with stream:
        chunks = list(stream)
    total = time.monotonic() - started

    # role chunk, one word, finish chunk, [DONE]: 4 events, 3 gaps of 0.3 s.
    assert len(chunks) == 3
    assert total >= 3 * 0.3 * 0.9


def test_client_leaving_a_slow_stream_is_recorded_as_truncated(
    claude: anthropic.Anthropic, ledger_path: Path
) -> None:
    stream = claude.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=HI,
        stream=True,
        extra_headers=_scenario("slow", **{"x-sim-delay-ms": "200"}),
    )
    with stream:
        first = next(iter(stream))
    assert first.type == "message_start"
    message_id = first.message.id

    entry = None
    deadline = time.monotonic() + 5
    while entry is None and time.monotonic() < deadline:
        entry = next(
            (e for e in read_ledger(ledger_path) if e.response_id == message_id), None
        )
        time.sleep(0.05)
    assert entry is not None
    assert (entry.status, entry.usage) == ("truncated", START_USAGE)


def test_cut_stream_breaks_the_connection_before_message_delta(
    claude: anthropic.Anthropic, ledger_path: Path
) -> None:
    seen: list[str] = []
    stream = claude.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=HI,
        stream=True,
        extra_headers=_scenario("cut"),
    )
    with stream, pytest.raises(anthropic.APIConnectionError):
        seen.extend(event.type for event in stream)

    assert "message_delta" not in seen and "message_stop" not in seen
    assert seen[0] == "message_start"
    entry = last_entry(ledger_path)
    assert (entry.status, entry.usage) == ("truncated", START_USAGE)


def test_cut_json_body_breaks_the_connection(
    claude: anthropic.Anthropic, ledger_path: Path
) -> None:
    with pytest.raises(anthropic.APIConnectionError):
        claude.messages.create(
            model=MODEL, max_tokens=100, messages=HI, extra_headers=_scenario("cut")
        )

    entry = last_entry(ledger_path)
    assert (entry.status, entry.streaming, entry.usage) == ("truncated", False, None)


def test_cut_chat_stream_raises_in_the_openai_sdk(
    gpt: openai.OpenAI, ledger_path: Path
) -> None:
    stream = gpt.chat.completions.create(
        model="gpt-4o-mini",
        messages=HI,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=_scenario("cut"),
    )
    with stream, pytest.raises(openai.APIConnectionError):
        list(stream)

    entry = last_entry(ledger_path)
    assert (entry.status, entry.usage) == ("truncated", None)


def test_cut_does_not_log_a_server_error(
    claude: anthropic.Anthropic, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR), pytest.raises(anthropic.APIConnectionError):
        claude.messages.create(
            model=MODEL, max_tokens=100, messages=HI, extra_headers=_scenario("cut")
        )

    assert [r for r in caplog.records if r.name.startswith("uvicorn")] == []


def test_error_in_stream_sends_overloaded_after_message_start(
    claude: anthropic.Anthropic, ledger_path: Path
) -> None:
    seen: list[str] = []
    stream = claude.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=HI,
        stream=True,
        extra_headers=_scenario("error-in-stream"),
    )
    with stream, pytest.raises(anthropic.APIStatusError) as caught:
        seen.extend(event.type for event in stream)

    assert seen == ["message_start"]
    assert caught.value.status_code == 200
    assert "overloaded_error" in str(caught.value)
    entry = last_entry(ledger_path)
    assert (entry.status, entry.http_status, entry.error_type) == (
        "error",
        200,
        "overloaded_error",
    )
    assert entry.usage == START_USAGE


def test_error_in_chat_stream_raises_api_error(
    gpt: openai.OpenAI, ledger_path: Path
) -> None:
    stream = gpt.chat.completions.create(
        model="gpt-4o-mini",
        messages=HI,
        stream=True,
        extra_headers=_scenario("error-in-stream"),
    )
    with stream, pytest.raises(openai.APIError, match="overloaded"):
        list(stream)

    entry = last_entry(ledger_path)
    assert (entry.status, entry.error_type) == ("error", "server_error")


def test_error_in_responses_stream_is_an_error_event(gpt: openai.OpenAI) -> None:
    stream = gpt.responses.create(
        model="gpt-4.1",
        input="hi",
        stream=True,
        extra_headers=_scenario("error-in-stream"),
    )
    with stream:
        kinds = [event.type for event in stream]

    assert kinds == ["response.created", "error"]


def test_http_error_is_429_with_retry_after(
    claude: anthropic.Anthropic, ledger_path: Path
) -> None:
    with pytest.raises(anthropic.RateLimitError) as caught:
        claude.messages.create(
            model=MODEL,
            max_tokens=100,
            messages=HI,
            extra_headers=_scenario("http-error"),
        )

    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.body == {
        "type": "error",
        "error": {
            "type": "rate_limit_error",
            "message": (
                "Simulated rate limit (x-sim-scenario: http-error); retry later."
            ),
        },
        "request_id": caught.value.response.headers["request-id"],
    }
    entry = last_entry(ledger_path)
    assert (entry.status, entry.http_status, entry.error_type, entry.usage) == (
        "error",
        429,
        "rate_limit_error",
        None,
    )


def test_http_error_in_openai_shape(gpt: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        gpt.chat.completions.create(
            model="gpt-4o-mini", messages=HI, extra_headers=_scenario("http-error")
        )

    assert caught.value.code == "rate_limit_exceeded"


def test_gzip_body_is_encoded_and_decodes_in_the_sdk(
    claude: anthropic.Anthropic, ledger_path: Path
) -> None:
    raw = claude.messages.with_raw_response.create(
        model=MODEL, max_tokens=100, messages=HI, extra_headers=_scenario("gzip")
    )
    message = raw.parse()

    assert raw.headers["content-encoding"] == "gzip"
    assert message.usage.output_tokens == 6
    assert last_entry(ledger_path).usage == message.usage.to_dict()


def test_gzip_stream_events_decode_as_they_come(gpt: openai.OpenAI) -> None:
    stream = gpt.chat.completions.create(
        model="gpt-4o-mini",
        messages=HI,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=_scenario("gzip,slow", **{"x-sim-delay-ms": "10"}),
    )
    with stream:
        chunks = list(stream)

    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 12


def test_unknown_scenario_is_rejected_naming_it(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="'slowly'"):
        claude.messages.create(
            model=MODEL, max_tokens=100, messages=HI, extra_headers=_scenario("slowly")
        )


def test_bad_delay_is_rejected(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="x-sim-delay-ms"):
        claude.messages.create(
            model=MODEL,
            max_tokens=100,
            messages=HI,
            extra_headers=_scenario("slow", **{"x-sim-delay-ms": "-5"}),
        )
