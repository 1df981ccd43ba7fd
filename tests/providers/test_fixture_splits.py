"""Every provider fixture gives the same call however its body is split (case T04)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.providers.exchanges import (
    Exchange,
    fixture_paths,
    load_path,
    one_byte_at_a_time,
    parse,
    random_splits,
)

FIXTURES = fixture_paths()
STREAMS = [p for p in FIXTURES if load_path(p).head.content_type == "text/event-stream"]


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def _content_started(exchange: Exchange, chunks: list[bytes]) -> bool:
    reader = exchange.reader()
    for chunk in chunks:
        reader.feed(chunk)
    return reader.content_started


def test_there_are_fixtures_for_every_core_format() -> None:
    assert {p.parent.name for p in FIXTURES} >= {
        "anthropic_messages",
        "openai_chat",
        "openai_responses",
    }


@pytest.mark.parametrize("path", FIXTURES, ids=_id)
def test_one_byte_at_a_time_gives_the_same_call(path: Path) -> None:
    exchange = load_path(path)
    whole = parse(exchange)

    assert parse(exchange, one_byte_at_a_time(exchange.body)) == whole


@pytest.mark.parametrize("path", FIXTURES, ids=_id)
def test_random_splits_give_the_same_call(path: Path) -> None:
    exchange = load_path(path)
    whole = parse(exchange)
    started = _content_started(exchange, [exchange.body])
    rng = random.Random(path.name)

    for _ in range(25):
        chunks = random_splits(exchange.body, rng, pieces=rng.randint(2, 40))
        assert parse(exchange, chunks) == whole
        assert _content_started(exchange, chunks) == started


@pytest.mark.parametrize("path", STREAMS, ids=_id)
def test_crlf_line_ends_give_the_same_call(path: Path) -> None:
    exchange = load_path(path)
    crlf = exchange.body.replace(b"\n", b"\r\n")

    assert parse(exchange, one_byte_at_a_time(crlf)) == parse(exchange)
