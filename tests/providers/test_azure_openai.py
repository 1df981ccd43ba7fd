"""Azure OpenAI: deployment URLs and /openai/v1 paths, the content-filter chunks, the
served model from the body."""

from __future__ import annotations

import pytest

from spendtap.event import Api, CallStatus, Usage, UsageSource
from spendtap.providers.base import RequestInfo
from spendtap.providers.registry import default_registry
from tests.providers.exchanges import inline, load, parse

AZURE = "azure.ai.openai"


def test_stream_opening_with_the_prompt_filter_chunk_keeps_usage_and_served_model() -> (
    None
):
    call = parse(load("azure_openai/chat_stream_content_filter_first_chunk"))

    assert (call.provider, call.api) == (AZURE, Api.CHAT_COMPLETIONS)
    assert call.status is CallStatus.OK
    assert call.usage == Usage(
        input_tokens=1250 - 1024,
        cache_read_tokens=1024,
        output_tokens=42,
        reasoning_tokens=0,
    )
    assert call.usage_source is UsageSource.PROVIDER
    assert call.model_requested == "gpt4o-prod"  # the deployment, from the URL
    assert call.model == "gpt-4o-2024-11-20"  # not the filter chunks' empty model
    assert call.response_id == "chatcmpl-AzR7qk2mN4pX8vT1wL6sY3bC9dF0"
    assert call.streaming is True


def test_prompt_filter_chunk_alone_is_not_content() -> None:
    exchange = load("azure_openai/chat_stream_content_filter_first_chunk")
    first_event = exchange.body[: exchange.body.index(b"\n\n") + 2]
    reader = exchange.reader()

    reader.feed(first_event)

    assert reader.content_started is False


def test_stream_cut_after_the_filter_chunk_is_truncated_without_a_model() -> None:
    exchange = load("azure_openai/chat_stream_content_filter_first_chunk")
    first_event = exchange.body[: exchange.body.index(b"\n\n") + 2]

    call = parse(exchange, [first_event], complete=False)

    assert call.status is CallStatus.TRUNCATED
    assert call.model is None and call.response_id is None
    assert call.usage.is_empty


def test_v1_path_takes_the_deployment_from_the_body_and_keeps_reasoning_inside() -> (
    None
):
    call = parse(load("azure_openai/chat_v1_non_stream_reasoning"))

    assert call.model_requested == "o4-mini-team"
    assert call.model == "o4-mini-2025-04-16"
    assert call.usage == Usage(
        input_tokens=300 - 128,
        cache_read_tokens=128,
        output_tokens=900,
        reasoning_tokens=640,
    )
    assert call.streaming is False


def test_content_filter_refusal_is_an_error_with_its_code() -> None:
    call = parse(load("azure_openai/http_400_content_filter"))

    assert call.status is CallStatus.ERROR
    assert call.http_status == 400
    assert call.error_type == "content_filter"
    assert call.usage.is_empty
    assert call.model_requested == "gpt4o-prod"


def test_responses_stream_on_the_v1_path() -> None:
    call = parse(load("azure_openai/v1_responses_stream"))

    assert (call.provider, call.api, call.status) == (
        AZURE,
        Api.RESPONSES,
        CallStatus.OK,
    )
    assert call.usage == Usage(
        input_tokens=500 - 256,
        cache_read_tokens=256,
        output_tokens=120,
        reasoning_tokens=64,
    )
    assert call.model_requested == "gpt5-mini-deploy"
    assert call.model == "gpt-5-mini-2025-08-07"


def test_embeddings_on_a_deployment_bill_prompt_tokens_only() -> None:
    call = parse(load("azure_openai/embeddings_deployment"))

    assert (call.provider, call.api) == (AZURE, Api.EMBEDDINGS)
    assert call.usage == Usage(input_tokens=17)
    assert call.model_requested == "embed-large"
    assert call.model == "text-embedding-3-large"


def test_deployment_names_are_url_decoded() -> None:
    exchange = inline(
        "https://contoso.openai.azure.com/openai/deployments/team%20gpt/chat/completions"
        "?api-version=2024-10-21",
        {"messages": []},
        200,
        "application/json",
        '{"model": "gpt-4.1-2025-04-14", "usage": {"prompt_tokens": 5, '
        '"completion_tokens": 1}}',
    )

    call = parse(exchange)

    assert call.model_requested == "team gpt"
    assert call.usage == Usage(input_tokens=5, output_tokens=1)


def _route(method: str, host: str, path: str) -> str | None:
    route = default_registry().route(RequestInfo(method, host, path))
    return route.name if route else None


@pytest.mark.parametrize(
    ("method", "host", "path", "expected"),
    [
        (
            "POST",
            "contoso.openai.azure.com",
            "/openai/deployments/d1/chat/completions?api-version=2024-10-21",
            "azure_openai.chat_completions",
        ),
        (
            "POST",
            "Contoso.OpenAI.Azure.com",
            "/openai/v1/chat/completions",
            "azure_openai.chat_completions",
        ),
        (
            "POST",
            "contoso.cognitiveservices.azure.com",
            "/openai/deployments/d1/embeddings",
            "azure_openai.embeddings",
        ),
        (
            "POST",
            "proj.services.ai.azure.com",
            "/openai/v1/embeddings",
            "azure_openai.embeddings",
        ),
        (
            "POST",
            "contoso.openai.azure.com",
            "/openai/responses?api-version=2025-04-01-preview",
            "azure_openai.responses",
        ),
        (
            "POST",
            "contoso.openai.azure.com",
            "/openai/v1/responses",
            "azure_openai.responses",
        ),
        (
            "GET",
            "contoso.openai.azure.com",
            "/openai/realtime",
            "azure_openai.realtime",
        ),
        (
            "GET",
            "contoso.openai.azure.com",
            "/openai/v1/realtime",
            "azure_openai.realtime",
        ),
        ("POST", "contoso.openai.azure.com", "/openai/batches", "azure_openai.batches"),
        (
            "GET",
            "contoso.openai.azure.com",
            "/openai/files/file-1/content",
            "azure_openai.files.content",
        ),
        (
            "POST",
            "proj.services.ai.azure.com",
            "/models/chat/completions",
            "azure_ai_inference.chat_completions",
        ),
        # Not routed: other paths, other methods, look-alike hosts.
        (
            "POST",
            "contoso.openai.azure.com",
            "/openai/deployments/d1/completions",
            None,
        ),
        (
            "POST",
            "contoso.openai.azure.com",
            "/openai/deployments/chat/completions",
            None,
        ),
        (
            "GET",
            "contoso.openai.azure.com",
            "/openai/deployments/d1/chat/completions",
            None,
        ),
        ("GET", "contoso.openai.azure.com", "/openai/files/file-1", None),
        ("POST", "contoso.openai.azure.com", "/models/chat/completions", None),
        ("POST", "openai.azure.com.evil.example", "/openai/v1/chat/completions", None),
        ("POST", "evilopenai.azure.com", "/openai/v1/chat/completions", None),
    ],
)
def test_routes(method: str, host: str, path: str, expected: str | None) -> None:
    assert _route(method, host, path) == expected


def test_foundry_inference_endpoint_bills_under_its_own_provider_name() -> None:
    exchange = inline(
        "https://proj.services.ai.azure.com/models/chat/completions?api-version=2024-05-01-preview",
        {"model": "DeepSeek-R1", "messages": []},
        200,
        "application/json",
        '{"model": "DeepSeek-R1", "usage": {"prompt_tokens": 9, "completion_tokens": 3}}',
    )

    call = parse(exchange)

    assert call.provider == "azure.ai.inference"
    assert (call.model_requested, call.model) == ("DeepSeek-R1", "DeepSeek-R1")
