"""OpenAI Embeddings: input tokens only, and large bodies read from their two ends."""

from __future__ import annotations

import json

from spendtap.event import Api, CallStatus, Usage, UsageSource
from spendtap.providers.openai_embeddings import EDGE_BYTES, WHOLE_BODY_BYTES
from tests.providers.exchanges import inline, load, parse

VECTOR = [0.0123456789] * 3072


def test_prompt_tokens_are_the_whole_bill_and_output_is_unknown() -> None:
    call = parse(load("openai_embeddings/float_vectors"))

    assert (call.provider, call.api, call.status) == (
        "openai",
        Api.EMBEDDINGS,
        CallStatus.OK,
    )
    assert call.usage == Usage(input_tokens=4)  # output None, not 0
    assert call.usage_source is UsageSource.PROVIDER
    assert call.model == "text-embedding-3-small"
    assert call.model_requested == "text-embedding-3-small"
    assert call.streaming is False


def test_rate_limited_call_is_an_error_without_usage() -> None:
    call = parse(load("openai_embeddings/http_429_rate_limited"))

    assert call.status is CallStatus.ERROR
    assert call.http_status == 429
    assert call.usage.is_empty


def _large_body(usage_first: bool, vectors: int) -> str:
    usage = {"prompt_tokens": 81234, "total_tokens": 81234}
    data = [
        {"object": "embedding", "index": i, "embedding": VECTOR} for i in range(vectors)
    ]
    head = {"usage": usage, "model": "text-embedding-3-large"} if usage_first else {}
    tail = {} if usage_first else {"model": "text-embedding-3-large", "usage": usage}
    return json.dumps({**head, "object": "list", "data": data, **tail})


def test_body_too_large_to_keep_is_read_from_its_end() -> None:
    body = _large_body(usage_first=False, vectors=200)
    assert len(body) > WHOLE_BODY_BYTES
    exchange = inline(
        "https://api.openai.com/v1/embeddings",
        {"model": "text-embedding-3-large"},
        200,
        "application/json",
        body,
    )
    data = exchange.body

    call = parse(exchange, [data[i : i + 65536] for i in range(0, len(data), 65536)])

    assert call.usage == Usage(input_tokens=81234)
    assert call.model == "text-embedding-3-large"


def test_body_too_large_to_keep_is_read_from_its_start_too() -> None:
    body = _large_body(usage_first=True, vectors=200)
    exchange = inline(
        "https://api.openai.com/v1/embeddings", {}, 200, "application/json", body
    )

    call = parse(exchange)

    assert call.usage == Usage(input_tokens=81234)
    assert call.model == "text-embedding-3-large"


def test_large_body_cut_inside_its_usage_object_has_no_usage_not_a_wrong_one() -> None:
    body = _large_body(usage_first=False, vectors=200)
    exchange = inline(
        "https://api.openai.com/v1/embeddings", {}, 200, "application/json", body
    )
    cut = exchange.body[: exchange.body.rindex(b"81234")]
    assert len(cut) > WHOLE_BODY_BYTES + EDGE_BYTES

    call = parse(exchange, [cut], complete=False)

    assert call.usage.is_empty
    assert call.status is CallStatus.TRUNCATED
