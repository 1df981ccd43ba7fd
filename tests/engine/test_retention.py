"""Retention: raw events past the policy go, rollups and the id ledger stay."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from spendtap.cli.main import main
from spendtap.engine.app import create_app
from spendtap.engine.database import open_database
from spendtap.engine.partitions import Month, partition_months
from spendtap.engine.retention import apply_retention
from spendtap.engine.state import EngineConfig
from spendtap.engine.timestamps import epoch_ms, format_rfc3339

from .conftest import EventFactory, QueryDb

NOW = datetime.now(UTC)


def days_ago(days: int) -> str:
    return format_rfc3339(NOW - timedelta(days=days))


def aged_events(make_event: EventFactory) -> list[dict[str, Any]]:
    return [
        make_event(event_id="old", started_at=days_ago(200), input_tokens=1),
        make_event(event_id="mid", started_at=days_ago(100), input_tokens=20),
        make_event(event_id="new", started_at=days_ago(1), input_tokens=300),
    ]


def total_input(client: TestClient) -> int:
    body = client.get("/v1/report", params={"by": "model"}).json()
    value: int = body["totals"]["input_tokens"]
    return value


def test_policy_removes_old_raw_events_and_keeps_the_sums(
    client: TestClient, make_event: EventFactory, db_url: str, query_db: QueryDb
) -> None:
    events = aged_events(make_event)
    client.post("/v1/events", json={"events": events})
    engine = open_database(db_url)
    try:
        result = apply_retention(engine, timedelta(days=90), NOW)
    finally:
        engine.dispose()

    resent = client.post("/v1/events", json={"events": events[:1]}).json()

    if not db_url.startswith("postgresql"):
        assert (result.events_deleted, result.partitions_dropped) == (2, ())
    assert query_db("SELECT event_id FROM events") == [("new",)]
    assert total_input(client) == 321
    assert resent["duplicates"] == 1  # the ledger still knows the id
    lookup = client.get("/v1/events/old").json()
    assert lookup["event"] is None and lookup["stored_id"] == "old"


def test_postgres_drops_whole_partitions_past_the_cutoff(
    client: TestClient, make_event: EventFactory, db_url: str, store: str
) -> None:
    if store != "postgresql":
        pytest.skip("SQLite keeps events in one table")
    client.post("/v1/events", json={"events": aged_events(make_event)})
    engine = open_database(db_url)
    try:
        result = apply_retention(engine, timedelta(days=90), NOW)
        with engine.connect() as conn:
            months = partition_months(conn)
    finally:
        engine.dispose()

    cutoff = Month.of_ms(epoch_ms(NOW - timedelta(days=90)))
    assert Month.of_ms(epoch_ms(NOW - timedelta(days=200))).table in (
        result.partitions_dropped
    )
    assert all(m >= cutoff for m in months)


def test_serve_applies_the_policy_in_the_background(
    db_url: str, make_event: EventFactory, query_db: QueryDb
) -> None:
    with TestClient(create_app(db_url)) as plain:
        plain.post("/v1/events", json={"events": aged_events(make_event)})

    config = EngineConfig(retain_events=timedelta(days=150))
    with TestClient(create_app(db_url, config=config)) as retaining:
        deadline = time.monotonic() + 10
        while query_db("SELECT COUNT(*) FROM events") != [(2,)]:
            assert time.monotonic() < deadline, "retention did not run"
            time.sleep(0.05)
        metrics = retaining.get("/metrics").text

    assert query_db("SELECT event_id FROM events ORDER BY seq") == [("mid",), ("new",)]
    assert "spendtap_events_retired_total" in metrics


def test_db_prune_command_applies_the_policy(
    client: TestClient, make_event: EventFactory, db_url: str, query_db: QueryDb
) -> None:
    client.post("/v1/events", json={"events": aged_events(make_event)})

    assert main(["db", "prune", "--db", db_url, "--retain-events", "30d"]) == 0

    assert query_db("SELECT event_id FROM events") == [("new",)]
