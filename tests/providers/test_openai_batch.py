"""OpenAI Batch: creation is recorded and free; an output file's lines add up."""

from __future__ import annotations

import json

import pytest

from spendtap.event import Api, CallStatus, Usage, UsageSource
from spendtap.providers.base import RequestInfo, ResponseHead
from spendtap.providers.openai_batch import endpoint_api, read_file_content
from spendtap.providers.registry import default_registry
from tests.providers.exchanges import load, parse


def test_creating_a_batch_is_recorded_but_not_billable() -> None:
    call = parse(load("openai_batch/create_batch"))

    assert call.billable is False
    assert call.api is Api.CHAT_COMPLETIONS  # from the batch's endpoint
    assert call.response_id == "batch_68c2b0d1e2f3"
    assert call.service_tier == "batch"
    assert call.usage.is_empty and call.usage_source is UsageSource.ABSENT


def test_output_file_adds_up_the_succeeded_lines_at_the_batch_tier() -> None:
    call = parse(load("openai_batch/output_file_chat"))

    assert call.billable is True
    assert call.status is CallStatus.OK
    assert call.usage == Usage(
        input_tokens=(1200 - 1024) + 800,
        cache_read_tokens=1024 + 0,
        output_tokens=30 + 55,
        reasoning_tokens=0,
    )
    assert call.usage_source is UsageSource.PROVIDER
    assert call.service_tier == "batch"
    assert call.model == "gpt-4o-mini-2024-07-18"
    assert call.response_id == "file-Out9uTbAtCh0001"  # a second download dedups


def test_a_file_that_is_not_batch_output_is_not_billable() -> None:
    call = parse(load("openai_batch/file_not_batch_output"))

    assert call.billable is False
    assert call.usage.is_empty


def test_output_cut_mid_line_keeps_the_whole_lines_and_is_truncated() -> None:
    exchange = load("openai_batch/output_file_chat")
    second_line = exchange.body.index(b"\n") + 1
    cut = exchange.body[: second_line + 40]

    call = parse(exchange, [cut], complete=False)

    assert call.status is CallStatus.TRUNCATED
    assert call.usage.input_tokens == 1200 - 1024
    assert call.usage.output_tokens == 30


def _output_line(body: dict[str, object]) -> bytes:
    line = {
        "id": "r",
        "custom_id": "c",
        "error": None,
        "response": {"status_code": 200, "body": body},
    }
    return json.dumps(line).encode() + b"\n"


def test_responses_and_embeddings_output_lines_use_their_own_usage_names() -> None:
    request = RequestInfo("GET", "api.openai.com", "/v1/files/file-R/content")
    reader = read_file_content(request, ResponseHead(200, {}))

    reader.feed(
        _output_line(
            {
                "object": "response",
                "model": "gpt-5-mini",
                "status": "completed",
                "usage": {
                    "input_tokens": 50,
                    "output_tokens": 20,
                    "input_tokens_details": {"cached_tokens": 10},
                    "output_tokens_details": {"reasoning_tokens": 8},
                },
            }
        )
    )
    call = reader.finish(complete=True)

    assert call.api is Api.RESPONSES
    assert call.usage == Usage(
        input_tokens=40, cache_read_tokens=10, output_tokens=20, reasoning_tokens=8
    )


def test_last_line_without_a_line_end_still_counts() -> None:
    request = RequestInfo("GET", "api.openai.com", "/v1/files/file-E/content")
    reader = read_file_content(request, ResponseHead(200, {}))

    reader.feed(
        _output_line(
            {
                "object": "list",
                "model": "text-embedding-3-small",
                "usage": {"prompt_tokens": 7, "total_tokens": 7},
            }
        ).rstrip()
    )
    call = reader.finish(complete=True)

    assert (call.api, call.usage) == (Api.EMBEDDINGS, Usage(input_tokens=7))


def test_download_that_failed_is_an_error() -> None:
    request = RequestInfo("GET", "api.openai.com", "/v1/files/file-X/content")
    reader = read_file_content(
        request, ResponseHead(404, {"content-type": "application/json"})
    )

    reader.feed(
        b'{"error": {"message": "No such File object", "type": "invalid_request_error"}}'
    )
    call = reader.finish(complete=True)

    assert call.status is CallStatus.ERROR
    assert call.error_type == "invalid_request_error"


@pytest.mark.parametrize(
    ("endpoint", "api"),
    [
        ("/v1/chat/completions", Api.CHAT_COMPLETIONS),
        ("/v1/responses", Api.RESPONSES),
        ("/v1/embeddings", Api.EMBEDDINGS),
        ("/chat/completions", Api.CHAT_COMPLETIONS),
        (None, Api.CHAT_COMPLETIONS),
    ],
)
def test_endpoint_api(endpoint: str | None, api: Api) -> None:
    assert endpoint_api(endpoint) is api


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/v1/batches", "openai.batches"),
        ("GET", "/v1/files/file-abc/content", "openai.files.content"),
        ("GET", "/v1/batches", None),
        ("GET", "/v1/batches/batch_1", None),
        ("POST", "/v1/batches/batch_1/cancel", None),
        ("GET", "/v1/files/file-abc", None),
        ("POST", "/v1/files", None),
    ],
)
def test_routes(method: str, path: str, expected: str | None) -> None:
    route = default_registry().route(RequestInfo(method, "api.openai.com", path))

    assert (route.name if route else None) == expected
