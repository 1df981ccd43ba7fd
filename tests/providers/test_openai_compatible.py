"""OpenAI-compatible hosts: the host table, and each host's usage dialect."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from spendtap.event import Api, CallStatus, Usage, UsageSource
from spendtap.providers.base import RequestInfo, ResponseHead
from spendtap.providers.openai_compatible import COMPATIBLE_HOSTS
from spendtap.providers.openai_dialects import XAI, dialect_usage
from spendtap.providers.registry import default_registry
from tests.providers.exchanges import inline, load, parse


def test_openrouter_reported_cost_and_web_searches_are_kept() -> None:
    call = parse(load("openai_compatible/openrouter_cost_and_web_search"))

    assert (call.provider, call.api) == ("openrouter", Api.CHAT_COMPLETIONS)
    assert call.reported_cost_usd == Decimal("0.0216072")
    assert call.usage == Usage(
        input_tokens=6200 - 2048,
        cache_read_tokens=2048,
        cache_write_5m_tokens=0,
        output_tokens=45,
        reasoning_tokens=0,
        web_search_requests=2,
    )
    assert call.model == "openai/gpt-4.1-mini"
    assert call.service_tier == "default"


def test_openrouter_byok_cost_adds_the_providers_own_charge() -> None:
    call = parse(load("openai_compatible/openrouter_byok_stream"))

    assert call.reported_cost_usd == Decimal("0.00002") + Decimal("0.00108")
    assert call.status is CallStatus.OK
    assert call.usage.input_tokens == 1500 - 1200
    assert call.usage.cache_read_tokens == 1200
    assert call.model == "anthropic/claude-sonnet-4.5"


def test_openrouter_keep_alive_comments_are_not_content() -> None:
    exchange = load("openai_compatible/openrouter_byok_stream")
    comments = exchange.body[: exchange.body.index(b"data:")]
    reader = exchange.reader()

    reader.feed(comments)

    assert reader.content_started is False


def test_openrouter_error_chunk_with_usage_is_an_error_that_keeps_the_tokens() -> None:
    call = parse(load("openai_compatible/openrouter_stream_error_with_usage"))

    assert call.status is CallStatus.ERROR
    assert call.usage == Usage(
        input_tokens=43, cache_read_tokens=0, output_tokens=10, reasoning_tokens=10
    )
    assert call.usage_source is UsageSource.PROVIDER
    assert call.reported_cost_usd == Decimal("0.0000215")


def test_openrouter_responses_stream_keeps_cost() -> None:
    call = parse(load("openai_compatible/openrouter_responses_stream_cost"))

    assert (call.provider, call.api, call.status) == (
        "openrouter",
        Api.RESPONSES,
        CallStatus.OK,
    )
    assert call.reported_cost_usd == Decimal("0.0000113")
    assert call.usage == Usage(
        input_tokens=78, cache_read_tokens=0, output_tokens=37, reasoning_tokens=22
    )


def test_groq_usage_in_x_groq_is_found_without_include_usage() -> None:
    call = parse(load("openai_compatible/groq_stream_x_groq_usage"))

    assert (call.provider, call.status) == ("groq", CallStatus.OK)
    assert call.usage == Usage(input_tokens=304, output_tokens=49, reasoning_tokens=23)
    assert call.reported_cost_usd is None


def test_deepseek_cache_hits_come_out_of_the_prompt() -> None:
    call = parse(load("openai_compatible/deepseek_cache_hit_fields"))

    assert call.provider == "deepseek"
    assert call.usage == Usage(
        input_tokens=51, cache_read_tokens=512, output_tokens=116
    )


def test_deepseek_cached_tokens_field_wins_over_hit_field_when_both_are_given() -> None:
    exchange = inline(
        "https://api.deepseek.com/v1/chat/completions",
        {"model": "deepseek-chat"},
        200,
        "application/json",
        '{"model": "deepseek-chat", "usage": {"prompt_tokens": 100, '
        '"completion_tokens": 2, "prompt_cache_hit_tokens": 64, '
        '"prompt_tokens_details": {"cached_tokens": 64}}}',
    )

    assert parse(exchange).usage == Usage(
        input_tokens=36, cache_read_tokens=64, output_tokens=2
    )


def test_xai_reasoning_outside_the_completion_total_is_added_to_output() -> None:
    call = parse(load("openai_compatible/xai_reasoning_outside_completion"))

    assert call.provider == "x_ai"
    assert call.usage == Usage(
        input_tokens=200 - 64,
        cache_read_tokens=64,
        output_tokens=9 + 310,
        reasoning_tokens=310,
    )


def test_xai_reasoning_inside_the_completion_total_is_left_alone() -> None:
    raw = {
        "prompt_tokens": 686,
        "completion_tokens": 123,
        "total_tokens": 809,
        "completion_tokens_details": {"reasoning_tokens": 112},
    }

    usage = dialect_usage(XAI, raw)

    assert (usage.output_tokens, usage.reasoning_tokens) == (123, 112)


def test_xai_without_a_total_keeps_openai_convention() -> None:
    raw = {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "completion_tokens_details": {"reasoning_tokens": 40},
    }

    assert dialect_usage(XAI, raw).output_tokens == 5


def test_mistral_stream_usage_without_being_asked() -> None:
    call = parse(load("openai_compatible/mistral_stream"))

    assert call.provider == "mistral_ai"
    assert call.usage == Usage(
        input_tokens=268 - 224, cache_read_tokens=224, output_tokens=5
    )
    assert call.status is CallStatus.OK


def test_stream_cut_after_finish_while_usage_was_asked_for_is_truncated() -> None:
    exchange = load("openai_compatible/openrouter_byok_stream")
    cut = exchange.body[: exchange.body.index(b'"usage"')]
    cut = cut[: cut.rindex(b"data:")]

    call = parse(exchange, [cut], complete=False)

    assert call.status is CallStatus.TRUNCATED
    assert call.usage.is_empty and call.reported_cost_usd is None


def test_http_error_has_the_body_error_type() -> None:
    exchange = inline(
        "https://api.groq.com/openai/v1/chat/completions",
        {"model": "nope"},
        404,
        "application/json",
        '{"error": {"message": "The model does not exist.", '
        '"type": "invalid_request_error", "code": "model_not_found"}}',
    )

    call = parse(exchange)

    assert call.status is CallStatus.ERROR
    assert call.error_type == "invalid_request_error"
    assert call.usage.is_empty


@pytest.mark.parametrize(
    ("host", "path", "expected"),
    [
        ("openrouter.ai", "/api/v1/chat/completions", "openrouter.chat_completions"),
        ("openrouter.ai", "/api/v1/responses", "openrouter.responses"),
        ("openrouter.ai", "/api/v1/embeddings", "openrouter.embeddings"),
        ("api.mistral.ai", "/v1/chat/completions", "mistral_ai.chat_completions"),
        ("api.mistral.ai", "/v1/embeddings", "mistral_ai.embeddings"),
        ("api.groq.com", "/openai/v1/chat/completions", "groq.chat_completions"),
        ("api.groq.com", "/openai/v1/responses", "groq.responses"),
        ("api.deepseek.com", "/chat/completions", "deepseek.chat_completions"),
        ("api.deepseek.com", "/v1/chat/completions", "deepseek.chat_completions"),
        ("api.deepseek.com", "/beta/chat/completions", "deepseek.chat_completions"),
        ("api.x.ai", "/v1/chat/completions", "x_ai.chat_completions"),
        ("api.x.ai", "/v1/responses", "x_ai.responses"),
        ("api.together.xyz", "/v1/chat/completions", "together_ai.chat_completions"),
        ("api.together.xyz", "/v1/embeddings", "together_ai.embeddings"),
        (
            "api.fireworks.ai",
            "/inference/v1/chat/completions",
            "fireworks_ai.chat_completions",
        ),
        ("api.fireworks.ai", "/inference/v1/responses", "fireworks_ai.responses"),
        # Not routed: another host's paths, other endpoints.
        ("openrouter.ai", "/v1/chat/completions", None),
        ("api.groq.com", "/v1/chat/completions", None),
        ("api.mistral.ai", "/v1/fim/completions", None),
        ("api.fireworks.ai", "/v1/chat/completions", None),
        ("api.x.ai", "/v1/messages", None),
    ],
)
def test_routes(host: str, path: str, expected: str | None) -> None:
    route = default_registry().route(RequestInfo("POST", host, path))

    assert (route.name if route else None) == expected


def test_each_host_bills_under_its_own_provider_name() -> None:
    providers = {h.host: h.provider for h in COMPATIBLE_HOSTS}

    assert providers == {
        "openrouter.ai": "openrouter",
        "generativelanguage.googleapis.com": "gcp.gemini",
        "api.mistral.ai": "mistral_ai",
        "api.groq.com": "groq",
        "api.deepseek.com": "deepseek",
        "api.x.ai": "x_ai",
        "api.together.xyz": "together_ai",
        "api.fireworks.ai": "fireworks_ai",
    }
    for host in COMPATIBLE_HOSTS:
        request = RequestInfo("POST", host.host, host.chat[0])
        route = default_registry().route(request)
        assert route is not None and route.provider == host.provider


def test_embeddings_on_a_compatible_host() -> None:
    exchange = inline(
        "https://api.mistral.ai/v1/embeddings",
        {"model": "mistral-embed", "input": ["a"]},
        200,
        "application/json",
        '{"id": "e1", "object": "list", "data": [], "model": "mistral-embed", '
        '"usage": {"prompt_tokens": 6, "total_tokens": 6, "completion_tokens": 0}}',
    )

    call = parse(exchange)

    assert (call.provider, call.api) == ("mistral_ai", Api.EMBEDDINGS)
    assert call.usage == Usage(input_tokens=6)


def test_reported_cost_ignores_junk() -> None:
    exchange = inline(
        "https://openrouter.ai/api/v1/chat/completions",
        {"model": "m"},
        200,
        "application/json",
        '{"model": "m", "usage": {"prompt_tokens": 1, "completion_tokens": 1, '
        '"cost": true}}',
    )

    assert parse(exchange).reported_cost_usd is None


def test_xai_stream_final_chunk_with_reasoning_outside_the_completion() -> None:
    exchange = inline(
        "https://api.x.ai/v1/chat/completions",
        {"model": "grok-3-mini", "stream": True},
        200,
        "text/event-stream",
        'data: {"id": "x1", "model": "grok-3-mini", "choices": [{"index": 0, '
        '"delta": {"content": "303"}, "finish_reason": null}]}\n\n'
        'data: {"id": "x1", "model": "grok-3-mini", "choices": [{"index": 0, '
        '"delta": {}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 20, '
        '"completion_tokens": 3, "total_tokens": 73, '
        '"completion_tokens_details": {"reasoning_tokens": 50}}}\n\n'
        "data: [DONE]\n\n",
    )

    call = parse(exchange)

    assert (call.provider, call.status) == ("x_ai", CallStatus.OK)
    assert call.usage == Usage(input_tokens=20, output_tokens=53, reasoning_tokens=50)


def test_together_chat_completion() -> None:
    exchange = inline(
        "https://api.together.xyz/v1/chat/completions",
        {"model": "meta-llama/Llama-3.3-70B-Instruct-Turbo"},
        200,
        "application/json",
        '{"id": "t1", "model": "meta-llama/Llama-3.3-70B-Instruct-Turbo", '
        '"usage": {"prompt_tokens": 41, "completion_tokens": 12, "total_tokens": 53}}',
    )

    call = parse(exchange)

    assert (call.provider, call.api) == ("together_ai", Api.CHAT_COMPLETIONS)
    assert call.usage == Usage(input_tokens=41, output_tokens=12)


def test_fireworks_responses_call() -> None:
    exchange = inline(
        "https://api.fireworks.ai/inference/v1/responses",
        {"model": "accounts/fireworks/models/qwen3-235b-a22b"},
        200,
        "application/json",
        '{"id": "resp_fw1", "object": "response", "status": "completed", '
        '"model": "accounts/fireworks/models/qwen3-235b-a22b", "output": [], '
        '"usage": {"input_tokens": 90, "output_tokens": 30, '
        '"input_tokens_details": {"cached_tokens": 64}, '
        '"output_tokens_details": {"reasoning_tokens": 20}}}',
    )

    call = parse(exchange)

    assert (call.provider, call.api) == ("fireworks_ai", Api.RESPONSES)
    assert call.usage == Usage(
        input_tokens=26, cache_read_tokens=64, output_tokens=30, reasoning_tokens=20
    )
    assert call.reported_cost_usd is None


def test_gemini_openai_compatible_chat_keeps_reasoning_inside_output() -> None:
    """Case R01's usage on Gemini's OpenAI-compatible endpoint (it once went unrecorded)."""
    body = {
        "id": "chatcmpl-g",
        "object": "chat.completion",
        "model": "gemini-2.5-flash",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "x"},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 1200,
            "completion_tokens": 5500,
            "completion_tokens_details": {"reasoning_tokens": 5000},
        },
    }
    request = RequestInfo(
        method="POST",
        host="generativelanguage.googleapis.com",
        path="/v1beta/openai/chat/completions",
        body=b'{"model": "gemini-2.5-flash", "messages": []}',
    )
    route = default_registry().route(request)
    assert route is not None and route.provider == "gcp.gemini"
    reader = route.reader(
        request, ResponseHead(200, {"content-type": "application/json"})
    )
    reader.feed(json.dumps(body).encode())
    call = reader.finish(complete=True)

    assert (call.usage.input_tokens, call.usage.output_tokens) == (1200, 5500)
    assert call.usage.reasoning_tokens == 5000
