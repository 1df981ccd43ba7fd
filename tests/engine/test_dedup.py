"""Cross-source de-duplication: one call seen by two capture sources is stored once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from spendtap.engine.dedup import CallKeys, MatchedBy, fingerprint, same_call

from .conftest import EventFactory, QueryDb


def keys(**fields: Any) -> CallKeys:
    base: dict[str, Any] = {
        "event_id": "a",
        "capture_source": "proxy",
        "provider": "anthropic",
        "response_id": None,
        "request_id": None,
        "fingerprint": "fp",
        "started_ms": 1_000_000,
    }
    return CallKeys(**(base | fields))


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ({"response_id": "m1"}, {"response_id": "m1"}, MatchedBy.RESPONSE_ID),
        ({"response_id": "m1"}, {"response_id": "m2"}, None),
        # different response ids decide even when the request ids agree
        (
            {"response_id": "m1", "request_id": "r"},
            {"response_id": "m2", "request_id": "r"},
            None,
        ),
        ({"response_id": "m1"}, {"response_id": "m1", "provider": "openai"}, None),
        (
            {"response_id": "m1", "request_id": "r"},
            {"request_id": "r"},
            MatchedBy.REQUEST_ID,
        ),
        ({"request_id": "r1"}, {"request_id": "r2"}, None),
        ({}, {"started_ms": 1_002_000}, MatchedBy.FINGERPRINT),
        ({}, {"started_ms": 997_999}, None),
        ({"response_id": "m1"}, {"started_ms": 999_000}, MatchedBy.FINGERPRINT),
        ({}, {"fingerprint": "other"}, None),
        ({"fingerprint": None}, {"fingerprint": None}, None),
    ],
)
def test_same_call_rule_in_key_order(
    a: dict[str, Any], b: dict[str, Any], expected: MatchedBy | None
) -> None:
    first = keys(**a)
    second = keys(**(b | {"event_id": "b", "capture_source": "claude_code_log"}))

    assert same_call(first, second) is expected
    assert same_call(second, first) is expected


def test_the_same_source_is_never_a_cross_source_duplicate() -> None:
    assert same_call(keys(response_id="m"), keys(event_id="b", response_id="m")) is None


def test_fingerprint_sums_cache_writes_and_needs_a_model_and_a_count() -> None:
    assert fingerprint("m", 1, 2, 3, 9) == fingerprint("m", 1, 2, 3, 9)
    assert fingerprint("m", 1, 2, 3, 9) != fingerprint("m", 1, 2, 3, 8)
    assert fingerprint("m", 1, 2, None, None) != fingerprint("m", 1, 2, 0, None)
    assert fingerprint(None, 1, 2, 3, 4) is None
    assert fingerprint("m", None, None, 3, 4) is None


def ingest(client: TestClient, *events: dict[str, Any]) -> dict[str, int]:
    response = client.post("/v1/events", json={"events": list(events)})
    assert response.status_code == 200, response.text
    body: dict[str, int] = response.json()
    return body


def proxy_and_log(make_event: EventFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    proxy = make_event(
        event_id="proxy-1", response_id="msg_A", request_id="req_A", session_id=None
    )
    log = make_event(
        event_id="log-1",
        capture_source="claude_code_log",
        response_id="msg_A",
        request_id="req_A",
        session_id="sess-9",
        branch="other-branch",
        agent_cost_usd=0.25,
        started_at="2025-06-01T10:15:09.000Z",
    )
    return proxy, log


def test_log_line_of_a_proxied_call_is_linked_and_fills_nulls(
    client: TestClient, make_event: EventFactory, query_db: QueryDb
) -> None:
    proxy, log = proxy_and_log(make_event)

    first = ingest(client, proxy)
    second = ingest(client, log)
    again = ingest(client, log)
    lookup = client.get("/v1/events/log-1").json()

    assert first == {"accepted": 1, "duplicates": 0, "cross_source_duplicates": 0}
    assert second == {"accepted": 0, "duplicates": 1, "cross_source_duplicates": 1}
    assert again == {"accepted": 0, "duplicates": 1, "cross_source_duplicates": 0}
    assert query_db("SELECT COUNT(*) FROM events") == [(1,)]
    assert lookup["duplicate_of"] == "proxy-1"
    assert lookup["event"]["session_id"] == "sess-9"  # was null: filled
    assert lookup["event"]["branch"] == "PAY-12-refunds"  # was set: kept
    assert lookup["event"]["agent_cost_usd"] == 0.25
    assert lookup["links"] == [
        {
            "event_id": "log-1",
            "capture_source": "claude_code_log",
            "matched_by": "response_id",
            "filled": ["session_id", "agent_cost_usd"],
            "linked_at": lookup["links"][0]["linked_at"],
        }
    ]


def test_agent_cost_filled_later_reaches_the_rollups(
    client: TestClient, make_event: EventFactory
) -> None:
    proxy, log = proxy_and_log(make_event)
    ingest(client, proxy)
    ingest(client, log)

    body = client.get(
        "/v1/spend",
        params={
            "by": "model",
            "bucket": "none",
            "since": "2025-06-01T00:00:00Z",
            "until": "2025-06-02T00:00:00Z",
        },
    ).json()

    (row,) = body["rows"]
    assert (row["calls"], row["cost_usd"], row["agent_cost_usd"]) == (1, 0.0011, 0.25)


def test_first_stored_wins_whichever_source_came_first(
    client: TestClient, make_event: EventFactory
) -> None:
    proxy, log = proxy_and_log(make_event)

    ingest(client, log)
    result = ingest(client, proxy)

    assert result["cross_source_duplicates"] == 1
    assert client.get("/v1/events/proxy-1").json()["duplicate_of"] == "log-1"


def test_twins_in_one_batch_are_stored_once(
    client: TestClient, make_event: EventFactory, query_db: QueryDb
) -> None:
    proxy, log = proxy_and_log(make_event)

    result = ingest(client, proxy, log)

    assert result == {"accepted": 1, "duplicates": 1, "cross_source_duplicates": 1}
    assert query_db("SELECT event_id, session_id FROM events") == [
        ("proxy-1", "sess-9")
    ]


def test_telemetry_without_response_id_matches_on_request_id(
    client: TestClient, make_event: EventFactory
) -> None:
    ingest(client, make_event(event_id="p", response_id="msg_B", request_id="req_B"))

    result = ingest(
        client,
        make_event(
            event_id="o", capture_source="otlp", response_id=None, request_id="req_B"
        ),
    )

    assert result["cross_source_duplicates"] == 1
    assert client.get("/v1/events/o").json()["links"][0]["matched_by"] == "request_id"


@pytest.mark.parametrize(
    ("seconds", "linked"), [("10.000", 1), ("12.000", 1), ("12.001", 0)]
)
def test_calls_without_ids_match_on_fingerprint_within_two_seconds(
    client: TestClient, make_event: EventFactory, seconds: str, linked: int
) -> None:
    no_ids = {"response_id": None, "request_id": None}
    ingest(
        client,
        make_event(event_id="p", started_at="2025-06-01T10:15:10.000Z", **no_ids),
    )

    result = ingest(
        client,
        make_event(
            event_id="g",
            capture_source="gemini_log",
            started_at=f"2025-06-01T10:15:{seconds}Z",
            **no_ids,
        ),
    )

    assert result["cross_source_duplicates"] == linked


def test_different_token_counts_are_different_calls(
    client: TestClient, make_event: EventFactory
) -> None:
    no_ids = {"response_id": None, "request_id": None}
    ingest(client, make_event(event_id="p", output_tokens=50, **no_ids))

    result = ingest(
        client,
        make_event(
            event_id="c", capture_source="codex_log", output_tokens=51, **no_ids
        ),
    )

    assert result == {"accepted": 1, "duplicates": 0, "cross_source_duplicates": 0}


def test_a_third_source_links_to_the_stored_call_through_a_duplicate(
    client: TestClient, make_event: EventFactory
) -> None:
    # The log shares the proxy's response id but reports 51 output tokens; the
    # telemetry has no ids and matches only the log's fingerprint.
    ingest(client, make_event(event_id="p", response_id="m", output_tokens=50))
    log = make_event(
        event_id="l",
        capture_source="claude_code_log",
        response_id="m",
        request_id=None,
        output_tokens=51,
    )
    ingest(client, log)

    result = ingest(
        client,
        make_event(
            event_id="o",
            capture_source="otlp",
            response_id=None,
            request_id=None,
            output_tokens=51,
        ),
    )

    assert result["cross_source_duplicates"] == 1
    assert client.get("/v1/events/o").json()["duplicate_of"] == "p"


def test_cross_source_duplicates_add_nothing_to_the_report(
    client: TestClient, make_event: EventFactory
) -> None:
    proxy, log = proxy_and_log(make_event)
    ingest(client, proxy, make_event(event_id="other"))
    ingest(client, log)

    totals = client.get("/v1/report", params={"by": "model"}).json()["totals"]

    assert (totals["calls"], totals["input_tokens"]) == (2, 200)
    assert Decimal(str(totals["cost_usd"])) == Decimal("0.0022")


def test_looking_up_an_id_with_a_nul_finds_nothing_on_either_store(
    client: TestClient, make_event: EventFactory
) -> None:
    """Ingest refuses NUL, so no such id was received (PostgreSQL failed with 500)."""
    ingest(client, make_event(event_id="a"))

    response = client.get("/v1/events/a%00")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
