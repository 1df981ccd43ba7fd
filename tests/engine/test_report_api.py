"""GET /v1/report: grouping, time window, order, null-awareness and exact cost."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from .conftest import EventFactory

DIMS = ("model", "provider", "agent", "user", "repo", "ticket")
SHOWN_TOKENS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
)
MEASURE_KEYS = {"calls", *SHOWN_TOKENS, "cost_usd", "unpriced_calls"}


def exact(response_text: str) -> dict[str, Any]:
    """The body with numbers as Decimals, so no float rounding hides an error."""
    body: dict[str, Any] = json.loads(response_text, parse_float=Decimal)
    return body


def send(client: TestClient, events: list[dict[str, Any]]) -> None:
    response = client.post("/v1/events", json={"events": events})
    assert response.status_code == 200, response.text


def sample(make_event: EventFactory) -> list[dict[str, Any]]:
    people = [
        ("ana", "claude-code", "PAY-1"),
        ("bo", "codex", "PAY-2"),
        ("cy", None, None),
    ]
    events = []
    for i in range(12):
        user, agent, ticket = people[i % 3]
        events.append(
            make_event(
                model=["m-small", "m-large"][i % 2],
                provider=["anthropic", "openai"][i % 4 // 2],
                agent=agent,
                user=user,
                repo=None if i % 5 == 0 else f"github.com/acme/r{i % 2}",
                ticket=ticket,
                input_tokens=i * 10,
                output_tokens=i,
                reasoning_tokens=None if i % 3 else i,
                cost_usd=(i + 1) / 1000,
            )
        )
    return events


def expected_groups(
    events: list[dict[str, Any]], dim: str
) -> dict[Any, dict[str, Any]]:
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        groups[event[dim] or None].append(event)
    out = {}
    for value, members in groups.items():
        reasoning = [
            m["reasoning_tokens"] for m in members if m["reasoning_tokens"] is not None
        ]
        out[value] = {
            "calls": len(members),
            "input_tokens": sum(m["input_tokens"] for m in members),
            "output_tokens": sum(m["output_tokens"] for m in members),
            "reasoning_tokens": sum(reasoning) if reasoning else None,
            "cost_usd": sum(Decimal(str(m["cost_usd"])) for m in members),
        }
    return out


@pytest.mark.parametrize("dim", DIMS)
def test_report_groups_by_each_dimension(
    client: TestClient, make_event: EventFactory, dim: str
) -> None:
    events = sample(make_event)
    send(client, events)

    body = exact(client.get("/v1/report", params={"by": dim}).text)

    got = {
        row[dim]: {
            k: row[k]
            for k in (
                "calls",
                "input_tokens",
                "output_tokens",
                "reasoning_tokens",
                "cost_usd",
            )
        }
        for row in body["rows"]
    }
    assert got == expected_groups(events, dim)
    for row in body["rows"]:
        assert set(row) == {dim} | MEASURE_KEYS


def test_report_groups_by_several_dimensions_and_keeps_their_order(
    client: TestClient, make_event: EventFactory
) -> None:
    events = sample(make_event)
    send(client, events)

    body = client.get("/v1/report", params={"by": "provider,model"}).json()

    pairs: dict[tuple[str, str], int] = defaultdict(int)
    for event in events:
        pairs[(event["provider"], event["model"])] += 1
    assert {(r["provider"], r["model"]): r["calls"] for r in body["rows"]} == pairs
    assert list(body["rows"][0])[:2] == ["provider", "model"]


def test_report_body_has_only_rows_and_totals(
    client: TestClient, make_event: EventFactory
) -> None:
    events = sample(make_event)
    send(client, events)

    body = exact(client.get("/v1/report", params={"by": "model"}).text)

    assert set(body) == {"rows", "totals"}
    assert set(body["totals"]) == MEASURE_KEYS | {"dropped_events"}
    assert body["totals"]["calls"] == 12
    assert body["totals"]["input_tokens"] == sum(range(12)) * 10
    assert body["totals"]["cost_usd"] == Decimal("0.078")  # (1 + ... + 12) / 1000
    assert body["totals"]["unpriced_calls"] == 0


def test_rows_are_sorted_by_cost_then_calls(
    client: TestClient, make_event: EventFactory
) -> None:
    unpriced = {"cost_usd": None, "cost_status": "unpriced"}
    send(
        client,
        [
            make_event(model="cheap", cost_usd=0.01),
            make_event(model="dear", cost_usd=0.5),
            make_event(model="busy", cost_usd=0.005),
            make_event(model="busy", cost_usd=0.005),
            make_event(model="unknown", **unpriced),
            make_event(model="unknown", **unpriced),
            make_event(model="unknown", **unpriced),
        ],
    )

    body = client.get("/v1/report", params={"by": "model"}).json()

    assert [r["model"] for r in body["rows"]] == ["dear", "busy", "cheap", "unknown"]


@pytest.mark.parametrize("limit", [None, 3])
def test_equal_rows_are_in_code_point_order_with_a_missing_value_last(
    client: TestClient, make_event: EventFactory, limit: int | None
) -> None:
    """Ties on cost and calls are ordered by value as Python orders text (so
    'Zed' comes before 'apple', which a locale's order would not do), with a
    missing value after the rest, on either store, with or without a limit."""
    tickets = ["apple", None, "Zed", "éclair", "PAY-9", "pay-10"]
    send(client, [make_event(ticket=t, cost_usd=0.25) for t in tickets])

    params: dict[str, str | int] = {"by": "ticket"}
    if limit is not None:
        params["limit"] = limit
    body = client.get("/v1/report", params=params).json()

    ordered = ["PAY-9", "Zed", "apple", "pay-10", "éclair", None]
    assert [r["ticket"] for r in body["rows"]] == ordered[:limit]
    assert body["totals"]["calls"] == len(tickets)


def test_time_window_selects_the_hours_it_overlaps(
    client: TestClient, make_event: EventFactory
) -> None:
    send(
        client,
        [
            make_event(started_at="2025-06-01T09:10:00.000Z", input_tokens=1),
            make_event(started_at="2025-06-01T10:20:00.000Z", input_tokens=20),
            make_event(started_at="2025-06-01T11:30:00.000Z", input_tokens=300),
        ],
    )

    def input_total(**window: str) -> int | None:
        body = client.get("/v1/report", params={"by": "model", **window}).json()
        total: int | None = body["totals"]["input_tokens"]
        return total

    assert input_total() == 321
    assert input_total(since="2025-06-01T10:00:00Z") == 320
    assert input_total(since="2025-06-01T10:00:00Z", until="2025-06-01T11:00:00Z") == 20
    assert input_total(since="2025-06-01T10:30:00Z") == 320  # its hour overlaps
    assert input_total(until="2025-06-01T10:00:00.000Z") == 1
    assert input_total(since="2025-06-01T12:00:00+01:00") == 300  # 11:00 UTC
    assert input_total(since="2025-06-02T00:00:00Z") is None


def test_empty_window_has_no_rows_and_null_totals(client: TestClient) -> None:
    body = client.get("/v1/report").json()

    assert body == {
        "rows": [],
        "totals": {
            "calls": 0,
            **dict.fromkeys(SHOWN_TOKENS),
            "cost_usd": None,
            "unpriced_calls": 0,
            "dropped_events": 0,
        },
    }


def test_token_sums_stay_null_when_no_call_reported_them(
    client: TestClient, make_event: EventFactory
) -> None:
    send(
        client,
        [
            make_event(model="a", reasoning_tokens=None, output_tokens=None),
            make_event(model="a", reasoning_tokens=None, output_tokens=5),
            make_event(model="b", reasoning_tokens=4, output_tokens=None),
        ],
    )

    body = client.get("/v1/report", params={"by": "model"}).json()

    by_model = {r["model"]: r for r in body["rows"]}
    assert (by_model["a"]["reasoning_tokens"], by_model["a"]["output_tokens"]) == (
        None,
        5,
    )
    assert (by_model["b"]["reasoning_tokens"], by_model["b"]["output_tokens"]) == (
        4,
        None,
    )
    assert body["totals"]["reasoning_tokens"] == 4


def test_missing_dimension_value_is_reported_as_null(
    client: TestClient, make_event: EventFactory
) -> None:
    send(client, [make_event(ticket=None), make_event(ticket=""), make_event()])

    body = client.get("/v1/report", params={"by": "ticket"}).json()

    assert {r["ticket"]: r["calls"] for r in body["rows"]} == {None: 2, "PAY-12": 1}


def test_unpriced_group_has_null_cost_and_counts_unpriced_calls(
    client: TestClient, make_event: EventFactory
) -> None:
    unpriced = {"cost_usd": None, "cost_status": "unpriced"}
    send(
        client,
        [
            make_event(model="x", **unpriced),
            make_event(model="y", **unpriced),
            make_event(model="y", cost_usd=0.2),
        ],
    )

    body = exact(client.get("/v1/report", params={"by": "model"}).text)

    rows = {r["model"]: (r["cost_usd"], r["unpriced_calls"]) for r in body["rows"]}
    assert rows == {"x": (None, 1), "y": (Decimal("0.2"), 1)}
    assert (body["totals"]["cost_usd"], body["totals"]["unpriced_calls"]) == (
        Decimal("0.2"),
        2,
    )


@pytest.mark.parametrize(
    ("costs", "total"),
    [
        ([0.1, 0.1, 0.1], "0.3"),
        ([0.000000001] * 3, "0.000000003"),
        ([123456.123456789, 0.000000001], "123456.12345679"),
        ([999999.999999999, 999999.999999999, 0.000000002], "2000000"),
    ],
)
def test_cost_sums_are_exact_to_the_nano_usd(
    client: TestClient, make_event: EventFactory, costs: list[float], total: str
) -> None:
    send(client, [make_event(cost_usd=c) for c in costs])

    text = client.get("/v1/report", params={"by": "model"}).text

    assert exact(text)["totals"]["cost_usd"] == Decimal(total)
    assert f'"cost_usd":{total}' in text


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"by": "team"}, "by"),
        ({"by": "model,cost"}, "by"),
        ({"by": ","}, "by"),
        ({"since": "7d"}, "since"),
        ({"until": "2025-06-01"}, "until"),
        ({"since": "2025-06-02T00:00:00Z", "until": "2025-06-01T00:00:00Z"}, "since"),
    ],
)
def test_bad_query_is_422_in_the_error_shape(
    client: TestClient, params: dict[str, str], field: str
) -> None:
    response = client.get("/v1/report", params=params)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_query"
    assert [d["field"] for d in error["details"]] == [field]


def test_unknown_dimension_error_names_the_allowed_values(client: TestClient) -> None:
    response = client.get("/v1/report", params={"by": "team"})

    message = response.json()["error"]["message"]
    assert "'team'" in message
    assert "model, provider, agent, user, repo, ticket" in message


def test_limit_keeps_the_biggest_rows_and_whole_totals(
    client: TestClient, make_event: EventFactory
) -> None:
    send(
        client,
        [
            make_event(model="small", cost_usd=0.1),
            make_event(model="big", cost_usd=0.5),
            make_event(model="mid", cost_usd=0.3),
        ],
    )

    body = exact(client.get("/v1/report", params={"by": "model", "limit": 2}).text)

    assert [r["model"] for r in body["rows"]] == ["big", "mid"]
    assert body["totals"]["calls"] == 3
    assert body["totals"]["cost_usd"] == Decimal("0.9")


def test_a_sum_past_64_bits_is_reported_exactly(
    client: TestClient, make_event: EventFactory, store: str
) -> None:
    """Sums come back as BIGINT for speed; a group whose sum no longer fits is
    asked for again exactly, with and without a limit."""
    if store == "sqlite":
        pytest.skip("SQLite's SUM itself stops at 2^63 (documented in the note)")
    biggest = 2**53 - 1  # the largest token count an event may carry
    events = [
        make_event(
            input_tokens=biggest,
            user=f"u{i % 8}",
            started_at=f"2025-06-0{1 + i % 4}T10:15:00.000Z",
            ended_at=f"2025-06-0{1 + i % 4}T10:15:02.500Z",
        )
        for i in range(1200)
    ]
    for start in range(0, len(events), 400):
        send(client, events[start : start + 400])

    all_rows: dict[str, str | int] = {"by": "model"}
    for params in (all_rows, {**all_rows, "limit": 1}):
        body = exact(client.get("/v1/report", params=params).text)
        assert body["rows"][0]["input_tokens"] == 1200 * biggest > 2**63
        assert body["totals"]["input_tokens"] == 1200 * biggest
