"""Anthropic Message Batches: creation is free; succeeded results add up at the batch
tier; web fetches are not billed per request the way web searches are."""

from __future__ import annotations

import json

import pytest

from spendtap.event import Api, CallStatus, Usage, UsageSource
from spendtap.providers.anthropic_batches import read_batch_results
from spendtap.providers.base import RequestInfo, ResponseHead
from spendtap.providers.registry import default_registry
from tests.providers.exchanges import load, parse

RESULTS_PATH = "/v1/messages/batches/msgbatch_1/results"


def test_creating_a_batch_is_recorded_but_not_billable() -> None:
    call = parse(load("anthropic_batches/create"))

    assert (call.provider, call.api) == ("anthropic", Api.MESSAGES)
    assert call.billable is False
    assert call.response_id == "msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d"
    assert call.service_tier == "batch"
    assert call.usage.is_empty


def test_results_add_up_succeeded_messages_only() -> None:
    call = parse(load("anthropic_batches/results"))

    assert call.status is CallStatus.OK
    assert call.billable is True
    assert call.usage == Usage(
        input_tokens=20 + 12,
        cache_read_tokens=0 + 3000,
        cache_write_5m_tokens=1000 + 0,
        cache_write_1h_tokens=2000 + 0,
        output_tokens=150 + 400,
        web_search_requests=2,  # the 3 web fetches cost tokens only, not per request
    )
    assert call.usage_source is UsageSource.PROVIDER
    assert call.service_tier == "batch"
    assert call.model == "claude-haiku-4-5-20251001"
    assert call.response_id == "msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d"


def test_results_from_several_models_name_no_model() -> None:
    call = parse(load("anthropic_batches/results_mixed_models"))

    assert call.model is None  # left unpriced and flagged, never priced at one rate
    assert call.usage.input_tokens == 10 + 30
    assert call.usage.output_tokens == 5 + 7


def _reader_of(*lines: object) -> tuple[Usage, bool]:
    reader = read_batch_results(
        RequestInfo("GET", "api.anthropic.com", RESULTS_PATH), ResponseHead(200, {})
    )
    reader.feed(b"".join(json.dumps(line).encode() + b"\r\n" for line in lines))
    call = reader.finish(complete=True)
    return call.usage, call.billable


def test_results_with_no_success_are_not_billable() -> None:
    usage, billable = _reader_of(
        {"custom_id": "a", "result": {"type": "canceled"}},
        {"custom_id": "b", "result": {"type": "expired"}},
    )

    assert usage.is_empty and billable is False


def test_lines_that_are_not_results_are_ignored() -> None:
    usage, billable = _reader_of(
        {"custom_id": "a", "params": {"model": "claude-haiku-4-5"}},  # a request line
        ["not", "an", "object"],
        {"result": {"type": "succeeded"}},  # no custom_id
    )

    assert usage.is_empty and billable is False


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/v1/messages/batches", "anthropic.message_batches"),
        ("GET", RESULTS_PATH, "anthropic.message_batches.results"),
        ("GET", "/v1/messages/batches", None),
        ("GET", "/v1/messages/batches/msgbatch_1", None),
        ("POST", "/v1/messages/batches/msgbatch_1/cancel", None),
        ("POST", "/v1/messages", "anthropic.messages"),
    ],
)
def test_routes(method: str, path: str, expected: str | None) -> None:
    route = default_registry().route(RequestInfo(method, "api.anthropic.com", path))

    assert (route.name if route else None) == expected
