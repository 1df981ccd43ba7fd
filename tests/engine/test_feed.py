"""Raw events in arrival order, lookup by id, and the live feed across replicas."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from fastapi.testclient import TestClient

from spendtap.engine.app import create_app
from spendtap.engine.state import EngineConfig

from .conftest import EventFactory

FAST = EngineConfig(feed_poll_s=0.05)


def sse_messages(text: str) -> list[dict[str, str]]:
    """The messages of a server-sent event stream (comments left out)."""
    messages = []
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line and not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value
        if fields:
            messages.append(fields)
    return messages


def post(client: TestClient, events: list[dict[str, Any]]) -> None:
    response = client.post("/v1/events", json={"events": events})
    assert response.status_code == 200, response.text


def test_events_come_in_arrival_order_a_page_at_a_time(
    client: TestClient, make_event: EventFactory
) -> None:
    post(client, [make_event(event_id=f"a{i}") for i in range(3)])
    post(client, [make_event(event_id="b0"), make_event(event_id="a1")])

    first = client.get("/v1/events", params={"after": 0, "limit": 2}).json()
    rest = client.get(
        "/v1/events", params={"after": first["next_after"], "limit": 10}
    ).json()
    empty = client.get("/v1/events", params={"after": rest["next_after"]}).json()

    assert [e["event_id"] for e in first["events"]] == ["a0", "a1"]
    assert [e["event_id"] for e in rest["events"]] == ["a2", "b0"]
    assert [e["seq"] for e in first["events"] + rest["events"]] == [1, 2, 3, 4]
    assert empty == {"events": [], "next_after": 4}


def test_event_lookup_returns_the_contract_fields_exactly(
    client: TestClient, make_event: EventFactory
) -> None:
    sent = make_event(event_id="look-1", cost_usd=0.000000123)
    post(client, [sent])

    body = client.get("/v1/events/look-1").json()
    missing = client.get("/v1/events/never-sent")

    stored = body["event"]
    assert {k: stored[k] for k in sent} == sent
    assert stored["seq"] == 1 and stored["shipped_by"] == "open"
    assert body["duplicate_of"] is None and body["links"] == []
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_feed_streams_stored_events_with_their_seq_as_id(
    client: TestClient, make_event: EventFactory
) -> None:
    post(client, [make_event(event_id=f"f{i}") for i in range(3)])

    with client.stream("GET", "/v1/feed", params={"after": 1, "max_events": 2}) as r:
        text = r.read().decode()

    messages = sse_messages(text)
    assert r.headers["content-type"].startswith("text/event-stream")
    assert [(m["id"], m["event"]) for m in messages] == [("2", "usage"), ("3", "usage")]
    assert [json.loads(m["data"])["event_id"] for m in messages] == ["f1", "f2"]


def test_feed_resumes_after_last_event_id(
    client: TestClient, make_event: EventFactory
) -> None:
    post(client, [make_event(event_id=f"r{i}") for i in range(4)])

    with client.stream(
        "GET", "/v1/feed", params={"max_events": 1}, headers={"Last-Event-ID": "3"}
    ) as r:
        (message,) = sse_messages(r.read().decode())

    assert json.loads(message["data"])["event_id"] == "r3"


def test_feed_of_one_replica_shows_calls_stored_through_another(
    db_url: str, make_event: EventFactory
) -> None:
    with (
        TestClient(create_app(db_url, config=FAST)) as ingest_side,
        TestClient(create_app(db_url, config=FAST)) as feed_side,
    ):
        post(ingest_side, [make_event(event_id="before")])

        def ship_later() -> None:
            time.sleep(0.3)
            post(ingest_side, [make_event(event_id="live-1")])
            post(ingest_side, [make_event(event_id="live-2")])

        shipper = threading.Thread(target=ship_later)
        shipper.start()
        started = time.monotonic()
        with feed_side.stream(
            "GET", "/v1/feed", params={"max_events": 2, "max_seconds": 20}
        ) as r:
            text = r.read().decode()
        waited = time.monotonic() - started
        shipper.join()

    ids = [json.loads(m["data"])["event_id"] for m in sse_messages(text)]
    assert ids == ["live-1", "live-2"]  # from now on: "before" is not replayed
    assert waited < 5


def test_feed_ends_after_max_seconds_when_nothing_arrives(client: TestClient) -> None:
    started = time.monotonic()
    with client.stream("GET", "/v1/feed", params={"max_seconds": 0.3}) as r:
        text = r.read().decode()

    assert sse_messages(text) == []
    assert text.startswith(": spendtap live feed")
    assert time.monotonic() - started < 5


def test_bad_last_event_id_is_422(client: TestClient) -> None:
    response = client.get("/v1/feed", headers={"Last-Event-ID": "abc"})

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "Last-Event-ID"
