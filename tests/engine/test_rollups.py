"""Hourly rollups kept at ingest, checked against sums worked out from the events."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from spendtap.engine.rollup import CUBES
from spendtap.engine.rollup_sql import rollup_columns, rollup_select_sql
from spendtap.engine.tables import rollups

from .conftest import EventFactory, QueryDb

TOKENS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "web_search_requests",
)
DIMS = ("model", "provider", "agent", "user", "repo", "ticket")
ROLLUP_SQL = (
    'SELECT hour_start, model, provider, agent, "user", repo, ticket, calls, '
    + ", ".join(TOKENS)
    + ", cost_nanos, unpriced_calls FROM rollup_hourly"
)


def random_events(
    make_event: EventFactory, count: int, seed: int
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events = []
    for _ in range(count):
        priced = rng.random() < 0.7
        day, hour = rng.choice("12"), rng.choice(["09", "10", "23"])
        clock = (
            f"{rng.randrange(60):02d}:{rng.randrange(60):02d}.{rng.randrange(1000):03d}"
        )
        events.append(
            make_event(
                started_at=f"2025-06-0{day}T{hour}:{clock}Z",
                model=rng.choice(["claude-haiku-4-5", "gpt-5", None]),
                provider=rng.choice(["anthropic", "openai"]),
                agent=rng.choice(["claude-code", "codex", None]),
                user=rng.choice(["ana@example.com", "bo@example.com", ""]),
                repo=rng.choice(["github.com/acme/payments", None]),
                ticket=rng.choice(["PAY-1", "PAY-2", None]),
                cost_usd=rng.randrange(0, 10**7) / 10**9 if priced else None,
                cost_status="priced" if priced else "unpriced",
                **{t: rng.choice([None, rng.randrange(0, 50_000)]) for t in TOKENS},
            )
        )
    return events


def expected_rollup(events: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    """The rollup rows, worked out from the JSON the test sent."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        started = datetime.fromisoformat(event["started_at"]).astimezone(UTC)
        hour = int(started.replace(minute=0, second=0, microsecond=0).timestamp())
        groups[(hour, *(event[d] or "" for d in DIMS))].append(event)
    rows = set()
    for key, members in groups.items():
        sums = []
        for token in TOKENS:
            known = [m[token] for m in members if m[token] is not None]
            sums.append(sum(known) if known else None)
        costs = [
            Decimal(str(m["cost_usd"])) for m in members if m["cost_usd"] is not None
        ]
        cost_nanos = int(sum(costs) * 10**9) if costs else None
        unpriced = sum(1 for m in members if m["cost_usd"] is None)
        rows.add((*key, len(members), *sums, cost_nanos, unpriced))
    return rows


def test_rollup_sums_equal_sums_of_the_sent_events(
    client: TestClient, make_event: EventFactory, query_db: QueryDb
) -> None:
    events = random_events(make_event, 150, seed=11)
    for start in range(0, len(events), 20):
        batch = events[start : start + 20] + events[max(0, start - 5) : start]
        assert client.post("/v1/events", json={"events": batch}).status_code == 200

    assert set(query_db(ROLLUP_SQL)) == expected_rollup(events)


def test_bucket_is_the_utc_hour_of_started_at(
    client: TestClient, make_event: EventFactory, query_db: QueryDb
) -> None:
    event = make_event(started_at="2025-03-01T01:30:00.000+02:00")

    client.post("/v1/events", json={"events": [event]})

    hour = datetime(2025, 2, 28, 23, tzinfo=UTC).timestamp()
    assert query_db("SELECT hour_start FROM rollup_hourly") == [(hour,)]


def test_token_sum_is_null_only_when_every_call_left_it_unknown(
    client: TestClient, make_event: EventFactory, query_db: QueryDb
) -> None:
    batch = [
        make_event(reasoning_tokens=None, cache_write_1h_tokens=None),
        make_event(reasoning_tokens=None, cache_write_1h_tokens=0),
        make_event(reasoning_tokens=None, cache_write_1h_tokens=None),
    ]
    client.post("/v1/events", json={"events": batch[:2]})
    client.post("/v1/events", json={"events": batch[2:]})

    assert query_db(
        "SELECT calls, reasoning_tokens, cache_write_1h_tokens FROM rollup_hourly"
    ) == [(3, None, 0)]


def test_unpriced_calls_are_counted_and_cost_is_null_when_all_are_unpriced(
    client: TestClient, make_event: EventFactory, query_db: QueryDb
) -> None:
    unpriced = {"cost_usd": None, "cost_status": "unpriced"}
    batch = [
        make_event(model="a", **unpriced),
        make_event(model="a", **unpriced),
        make_event(model="b", **unpriced),
        make_event(model="b", cost_usd=0.25),
    ]

    client.post("/v1/events", json={"events": batch})

    rows = query_db(
        "SELECT model, calls, cost_nanos, unpriced_calls FROM rollup_hourly"
    )
    assert sorted(rows) == [("a", 2, None, 2), ("b", 2, 250_000_000, 1)]


@pytest.mark.parametrize("table", sorted(rollups))
def test_every_rollup_table_equals_a_recount_of_the_raw_events(
    client: TestClient, make_event: EventFactory, query_db: QueryDb, table: str
) -> None:
    events = random_events(make_event, 120, seed=5)
    twins = [
        {
            **event,
            "event_id": event["event_id"] + "-log",
            "capture_source": "claude_code_log",
            "agent_cost_usd": 0.5,
            "session_id": None,
        }
        for event in events[::7]
    ]
    mixed = events + twins
    for start in range(0, len(mixed), 25):
        batch = mixed[start : start + 25] + mixed[max(0, start - 3) : start]
        assert client.post("/v1/events", json={"events": batch}).status_code == 200
    cube, grain = next(
        (c, g) for c in CUBES for g in c.grains if c.table_name(g) == table
    )
    columns = ", ".join(f'"{c}"' for c in rollup_columns(cube, grain))

    kept = query_db(f"SELECT {columns} FROM {table}")
    recount = query_db(rollup_select_sql(cube, grain))

    assert len(kept) > 3
    assert sorted(kept) == sorted(recount)
