"""Web chat (claude.ai, chatgpt.com): model, status and estimated tokens, no content."""

from __future__ import annotations

import pytest

from spendtap.event import Api, CallStatus, Usage, UsageSource
from spendtap.providers.base import RequestInfo
from spendtap.providers.registry import default_registry
from tests.providers.exchanges import inline, load, parse

ORG = "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
CONV = "f0e1d2c3-b4a5-4968-8776-655443322110"


def test_claude_ai_completion_is_estimated_from_utf8_sizes() -> None:
    call = parse(load("web_chat/claude_ai_completion"))

    assert (call.provider, call.api, call.status) == (
        "anthropic",
        Api.WEB_CHAT,
        CallStatus.OK,
    )
    # prompt 20 + attachment 40 bytes; thinking 24; answer 13 + 14 + 11 bytes.
    assert call.usage == Usage(
        input_tokens=60 // 4, output_tokens=(24 + 38 + 3) // 4, reasoning_tokens=24 // 4
    )
    assert call.usage_source is UsageSource.ESTIMATED
    assert call.model_requested == "claude-sonnet-4-5-20250929"
    assert call.model is None  # claude.ai's message_start names no model
    assert call.response_id == "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
    assert call.streaming is True


def test_claude_ai_retry_cut_off_is_truncated_and_input_is_unknown() -> None:
    call = parse(load("web_chat/claude_ai_retry_cut_off"), complete=False)

    assert call.status is CallStatus.TRUNCATED
    assert call.usage == Usage(input_tokens=None, output_tokens=2)  # "Partial", 7 bytes
    assert call.usage_source is UsageSource.ESTIMATED


def test_chatgpt_patch_stream_counts_only_the_assistants_text() -> None:
    call = parse(load("web_chat/chatgpt_delta_v1"))

    assert (call.provider, call.api, call.status) == (
        "openai",
        Api.WEB_CHAT,
        CallStatus.OK,
    )
    assert call.usage == Usage(input_tokens=(18 + 3) // 4, output_tokens=(21 + 3) // 4)
    assert call.usage_source is UsageSource.ESTIMATED
    assert call.model_requested == "auto"
    assert call.model == "gpt-5-instant"
    assert call.response_id == "2c3d4e5f-assistant"


def test_chatgpt_snapshots_count_the_last_snapshot_not_the_sum() -> None:
    call = parse(load("web_chat/chatgpt_snapshots"))

    assert call.usage == Usage(input_tokens=16 // 4, output_tokens=(11 + 3) // 4)
    assert (call.model_requested, call.model) == ("gpt-4o", "gpt-4o")
    assert call.status is CallStatus.OK


def test_chatgpt_error_in_stream_is_an_error() -> None:
    call = parse(load("web_chat/chatgpt_error_in_stream"))

    assert call.status is CallStatus.ERROR
    assert call.model == "gpt-5-thinking"


def test_chatgpt_stream_without_its_end_is_truncated() -> None:
    exchange = load("web_chat/chatgpt_delta_v1")
    cut = exchange.body[: exchange.body.index(b'"o":"patch"')]

    call = parse(exchange, [cut], complete=False)

    assert call.status is CallStatus.TRUNCATED
    assert call.usage.output_tokens == (20 + 3) // 4  # 3 + 6 + 11 bytes so far


def test_no_text_of_the_conversation_is_kept_in_the_call() -> None:
    for name in ("claude_ai_completion", "chatgpt_delta_v1", "chatgpt_snapshots"):
        call = parse(load(f"web_chat/{name}"))
        kept = repr(call)
        for text in ("Summarise", "Friday", "caf", "primes", "done", "Hello", "Bye"):
            assert text not in kept, (name, text)


def test_content_starts_with_the_first_generated_text() -> None:
    exchange = load("web_chat/chatgpt_delta_v1")
    first_answer = exchange.body.index(b'"v":"2, "')
    reader = exchange.reader()
    reader.feed(exchange.body[:first_answer])
    before = reader.content_started
    reader.feed(exchange.body[first_answer:])

    assert (before, reader.content_started) == (False, True)


@pytest.mark.parametrize(
    ("host", "method", "path", "expected"),
    [
        (
            "claude.ai",
            "POST",
            f"/api/organizations/{ORG}/chat_conversations/{CONV}/completion",
            "claude_ai.web_chat",
        ),
        (
            "claude.ai",
            "POST",
            f"/api/organizations/{ORG}/chat_conversations/{CONV}/retry_completion",
            "claude_ai.web_chat",
        ),
        ("chatgpt.com", "POST", "/backend-api/conversation", "chatgpt.web_chat"),
        ("chatgpt.com", "POST", "/backend-api/f/conversation", "chatgpt.web_chat"),
        ("chatgpt.com", "POST", "/backend-anon/f/conversation", "chatgpt.web_chat"),
        # Everything else on these hosts is relayed and not recorded.
        (
            "claude.ai",
            "GET",
            f"/api/organizations/{ORG}/chat_conversations/{CONV}",
            None,
        ),
        ("claude.ai", "POST", f"/api/organizations/{ORG}/chat_conversations", None),
        ("claude.ai", "POST", f"/api/{ORG}/upload", None),
        (
            "claude.ai",
            "GET",
            f"/api/organizations/{ORG}/chat_conversations/{CONV}/completion",
            None,
        ),
        ("chatgpt.com", "GET", "/backend-api/conversation/abc", None),
        ("chatgpt.com", "POST", "/backend-api/conversation/abc", None),
        ("chatgpt.com", "POST", "/backend-api/f/conversation/prepare", None),
        ("chatgpt.com", "POST", "/backend-api/files", None),
        ("chatgpt.com", "GET", "/", None),
        (
            "claude.ai.evil.example",
            "POST",
            f"/api/organizations/{ORG}/chat_conversations/{CONV}/completion",
            None,
        ),
    ],
)
def test_only_conversation_endpoints_route(
    host: str, method: str, path: str, expected: str | None
) -> None:
    route = default_registry().route(RequestInfo(method, host, path))

    assert (route.name if route else None) == expected


def test_a_patch_inside_a_patch_is_not_followed() -> None:
    exchange = inline(
        "https://chatgpt.com/backend-api/f/conversation",
        {"messages": [], "model": "auto"},
        200,
        "text/event-stream",
        'data: {"p": "", "o": "add", "v": {"message": {"id": "m", '
        '"author": {"role": "assistant"}, "content": {"parts": [""]}}}}\n\n'
        'data: {"p": "", "o": "patch", "v": [{"p": "", "o": "patch", "v": '
        '[{"p": "/message/content/parts/0", "o": "append", "v": "abcdefgh"}]}, '
        '{"p": "/message/content/parts/0", "o": "append", "v": "abcd"}]}\n\n'
        "data: [DONE]\n\n",
    )

    assert parse(exchange).usage.output_tokens == 1  # "abcd" only
