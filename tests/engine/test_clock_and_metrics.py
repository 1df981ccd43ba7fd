"""The sender's clock (X-Spendtap-Sent-At) and the engine's Prometheus metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from .conftest import EventFactory, QueryDb


def sent_at(offset: timedelta) -> dict[str, str]:
    moment = datetime.now(UTC) + offset
    return {"X-Spendtap-Sent-At": moment.isoformat().replace("+00:00", "Z")}


def samples(client: TestClient) -> dict[str, float]:
    text = client.get("/metrics").text
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return out


@pytest.mark.parametrize(
    ("offset", "low", "high"),
    [
        (timedelta(minutes=-10), 599, 601),  # laptop 10 min behind
        (timedelta(hours=2), -7201, -7199),  # laptop 2 h ahead
    ],
)
def test_far_off_sender_clock_flags_the_events(
    client: TestClient,
    make_event: EventFactory,
    query_db: QueryDb,
    offset: timedelta,
    low: int,
    high: int,
) -> None:
    event = make_event(started_at="2025-06-01T10:00:00.000Z")

    client.post("/v1/events", json={"events": [event]}, headers=sent_at(offset))

    ((skew, started),) = query_db("SELECT clock_skew_s, started_at FROM events")
    assert low <= skew <= high
    assert started == "2025-06-01T10:00:00.000Z"  # the laptop's time is kept


@pytest.mark.parametrize(
    "header",
    [timedelta(seconds=-200), {"X-Spendtap-Sent-At": "tuesday"}, {}],
)
def test_close_missing_or_unreadable_sender_clock_flags_nothing(
    client: TestClient,
    make_event: EventFactory,
    query_db: QueryDb,
    header: timedelta | dict[str, str],
) -> None:
    # The clock header is made when the test runs, not when pytest collects it.
    headers = sent_at(header) if isinstance(header, timedelta) else header
    response = client.post(
        "/v1/events", json={"events": [make_event()]}, headers=headers
    )

    assert response.status_code == 200
    assert query_db("SELECT clock_skew_s FROM events") == [(None,)]


def test_metrics_count_what_ingest_did(
    client: TestClient, make_event: EventFactory
) -> None:
    batch = [make_event(event_id="a"), make_event(event_id="b")]
    client.post("/v1/events", json={"events": batch})
    client.post(
        "/v1/events",
        json={"events": [*batch, make_event(event_id="c")]},
        headers=sent_at(timedelta(hours=-1)),
    )
    client.post("/v1/events", json={"events": [make_event(status="nope")]})
    client.post(
        "/v1/drops",
        json={
            "drops": [
                {
                    "drop_id": "d",
                    "device_id": None,
                    "count": 4,
                    "reason": "queue_full",
                    "first_at": "2025-06-01T00:00:00Z",
                    "last_at": "2025-06-01T00:00:01Z",
                }
            ]
        },
    )

    values = samples(client)

    assert values["spendtap_events_accepted_total"] == 3
    assert values["spendtap_events_duplicate_total"] == 2
    assert values["spendtap_events_clock_skewed_total"] == 1
    assert values["spendtap_batches_ingested_total"] == 2
    assert values["spendtap_batches_rejected_total{code=invalid_batch}"] == 1
    assert values["spendtap_drops_recorded_total"] == 1
    assert values["spendtap_events_dropped_total"] == 4
    assert values["spendtap_batch_store_seconds_count"] == 2
