"""A bad batch is rejected whole, in one error shape naming event, field and fix."""

from __future__ import annotations

import json
import random
import string
from typing import Any

import pytest
from fastapi.testclient import TestClient

from .conftest import EventFactory, QueryDb

#: (what is wrong, how to break event 2 of the batch, the field the error must name)
EVENT_FAULTS: list[tuple[str, dict[str, Any], str]] = [
    ("unknown field", {"prompt": "hello"}, "prompt"),
    ("tokens as a string", {"input_tokens": "12"}, "input_tokens"),
    ("negative tokens", {"output_tokens": -1}, "output_tokens"),
    ("tokens as a bool", {"cache_read_tokens": True}, "cache_read_tokens"),
    ("tokens as a fraction", {"reasoning_tokens": 1.5}, "reasoning_tokens"),
    ("tokens past 2^53", {"input_tokens": 2**60}, "input_tokens"),
    ("status not in the enum", {"status": "done"}, "status"),
    ("capture source not in the enum", {"capture_source": "wifi"}, "capture_source"),
    ("auth kind not in the enum", {"auth_kind": "password"}, "auth_kind"),
    ("streaming as a string", {"streaming": "yes"}, "streaming"),
    ("started_at not a time", {"started_at": "yesterday"}, "started_at"),
    ("started_at without zone", {"started_at": "2025-06-01T10:00:00"}, "started_at"),
    ("ended_at not a real day", {"ended_at": "2025-02-30T10:00:00Z"}, "ended_at"),
    ("cost as a string", {"cost_usd": "0.10"}, "cost_usd"),
    ("negative cost", {"cost_usd": -0.5}, "cost_usd"),
    ("cost with no price status", {"cost_usd": None}, "cost_usd"),
    ("unpriced with a cost", {"cost_status": "unpriced"}, "cost_usd"),
    ("empty event id", {"event_id": ""}, "event_id"),
    ("null event id", {"event_id": None}, "event_id"),
    ("provider null", {"provider": None}, "provider"),
    ("http status out of range", {"http_status": 42}, "http_status"),
    ("user not a string", {"user": ["a"]}, "user"),
    # PostgreSQL cannot store NUL; SQLite could, so both refuse it alike.
    ("NUL in a dimension", {"branch": "feat\u0000x"}, "branch"),
    ("NUL in the provider", {"provider": "\u0000"}, "provider"),
    ("NUL in the event id", {"event_id": "e-\u0000"}, "event_id"),
]


def assert_error_shape(body: dict[str, Any], code: str) -> list[dict[str, Any]]:
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    for detail in error["details"]:
        assert set(detail) == {"index", "field", "message", "fix"}
        assert detail["fix"]
    details: list[dict[str, Any]] = error["details"]
    return details


def assert_nothing_stored(query_db: QueryDb) -> None:
    assert query_db("SELECT COUNT(*) FROM events") == [(0,)]
    assert query_db("SELECT COUNT(*) FROM rollup_hourly") == [(0,)]


@pytest.mark.parametrize(
    ("fault", "change", "field"), EVENT_FAULTS, ids=[f[0] for f in EVENT_FAULTS]
)
def test_one_bad_event_rejects_the_whole_batch(
    client: TestClient,
    make_event: EventFactory,
    query_db: QueryDb,
    fault: str,
    change: dict[str, Any],
    field: str,
) -> None:
    batch = [make_event(), make_event(), make_event(**change), make_event()]

    response = client.post("/v1/events", json={"events": batch})

    assert response.status_code == 422, fault
    details = assert_error_shape(response.json(), "invalid_batch")
    assert [(d["index"], d["field"]) for d in details] == [(2, field)]
    assert f"events[2].{field}" in response.json()["error"]["message"] or (
        f"events[2].unknown field {field!r}" in response.json()["error"]["message"]
    )
    assert_nothing_stored(query_db)


def test_missing_field_is_named_with_what_to_send(
    client: TestClient, make_event: EventFactory, query_db: QueryDb
) -> None:
    event = make_event()
    del event["model"]

    response = client.post("/v1/events", json={"events": [make_event(), event]})

    assert response.status_code == 422
    details = assert_error_shape(response.json(), "invalid_batch")
    assert details == [
        {
            "index": 1,
            "field": "model",
            "message": "field 'model' is missing",
            "fix": (
                "add it: a string of at most 2048 characters without NUL, "
                "or null when unknown"
            ),
        }
    ]
    assert_nothing_stored(query_db)


def test_nul_is_named_with_the_fix(
    client: TestClient, make_event: EventFactory
) -> None:
    response = client.post(
        "/v1/events", json={"events": [make_event(user="dev\u0000@acme.example")]}
    )

    (detail,) = assert_error_shape(response.json(), "invalid_batch")
    assert detail["message"] == (
        "user holds a NUL character (U+0000), which no store can keep"
    )
    assert detail["fix"].startswith("drop the NUL from it at the source")


def test_unknown_field_message_says_remove_it(
    client: TestClient, make_event: EventFactory
) -> None:
    response = client.post("/v1/events", json={"events": [make_event(team="x")]})

    (detail,) = assert_error_shape(response.json(), "invalid_batch")
    assert detail["message"] == "unknown field 'team'"
    assert detail["fix"].startswith("remove it")


def test_every_bad_event_is_listed(
    client: TestClient, make_event: EventFactory, query_db: QueryDb
) -> None:
    batch = [
        make_event(),
        make_event(status="fine"),
        make_event(),
        make_event(input_tokens=-3, pid="x"),
    ]

    response = client.post("/v1/events", json={"events": batch})

    details = assert_error_shape(response.json(), "invalid_batch")
    assert sorted((d["index"], d["field"]) for d in details) == [
        (1, "status"),
        (3, "input_tokens"),
        (3, "pid"),
    ]
    assert "and 2 more problems" in response.json()["error"]["message"]
    assert_nothing_stored(query_db)


def test_enum_fix_lists_the_allowed_values(
    client: TestClient, make_event: EventFactory
) -> None:
    response = client.post("/v1/events", json={"events": [make_event(status="x")]})

    (detail,) = assert_error_shape(response.json(), "invalid_batch")
    assert detail["fix"] == 'send one of "ok", "error", "truncated"'


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"events": [', None),
        (b"[]", None),
        (b"{}", "events"),
        (b'{"events": {}}', "events"),
        (b'{"events": [], "device": "d"}', "device"),
        (b'{"events": [5]}', None),
        (b"", None),
    ],
)
def test_malformed_body_is_rejected_in_the_error_shape(
    client: TestClient, query_db: QueryDb, body: bytes, field: str | None
) -> None:
    response = client.post(
        "/v1/events", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    (detail,) = assert_error_shape(response.json(), "invalid_batch")
    assert detail["field"] == field
    assert_nothing_stored(query_db)


def test_nan_cost_is_rejected(
    client: TestClient, make_event: EventFactory, query_db: QueryDb
) -> None:
    text = json.dumps({"events": [make_event(cost_usd=1.5)]})
    body = text.replace("1.5", "NaN").encode()

    response = client.post("/v1/events", content=body)

    assert response.status_code == 422
    (detail,) = assert_error_shape(response.json(), "invalid_batch")
    assert detail["field"] == "cost_usd"
    assert_nothing_stored(query_db)


def test_a_batch_pushing_a_total_past_bigint_is_refused_for_good(
    store: str, client: TestClient, make_event: EventFactory
) -> None:
    """1,500 calls of 2^53-1 input tokens in one minute: their sum, 1.35e19, is past
    2^63-1. PostgreSQL refuses it (once a 500 the shipper retried for ever): a 422 the
    shipper splits to bury only the events that cannot be stored. SQLite's rollups
    saturate instead (docs/engine-scaling.md, known limits)."""
    if store != "postgresql":
        pytest.skip("SQLite saturates rather than refusing (a known limit)")
    big = 2**53 - 1
    statuses = []
    for part in range(3):
        batch = [
            make_event(
                event_id=f"big-{part}-{i}",
                input_tokens=big,
                started_at="2025-06-01T10:00:00Z",
            )
            for i in range(500)
        ]
        response = client.post("/v1/events", json={"events": batch})
        statuses.append(response.status_code)

    assert statuses == [200, 200, 422]
    assert "past 2^63-1" in response.json()["error"]["message"]


def test_values_too_long_for_the_indexes_are_refused_for_good(
    store: str, client: TestClient, make_event: EventFactory
) -> None:
    """Six dimension values of 2,048 characters each fit the schema, but not one
    PostgreSQL index row (at most about 2,700 bytes): it answered 503, which the
    shipper retries for ever. Now a 422 naming the fix; SQLite stores them."""
    rng = random.Random(7)  # random letters: repeated ones PostgreSQL compresses
    names = ("model", "user", "repo", "branch", "ticket", "agent")
    long = {name: "".join(rng.choices(string.ascii_letters, k=2048)) for name in names}
    response = client.post("/v1/events", json={"events": [make_event(**long)]})

    if store == "sqlite":
        assert response.status_code == 200
        return
    assert response.status_code == 422
    assert "too long for the database's indexes" in response.json()["error"]["message"]
