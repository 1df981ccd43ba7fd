"""GET /v1/spend and /v1/movers: sums by any dimensions, window and bucket, paged."""

from __future__ import annotations

import base64
import json
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from spendtap.engine.query import Piece, plan
from spendtap.engine.rollup import GRAINS, Grain

from .conftest import EventFactory

START = datetime(2025, 6, 1, tzinfo=UTC)
BUCKET_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
USERS = ["ana", "bo", None]
MODELS = ["m-small", "m-large"]
TICKETS = ["PAY-1", None]


def at(seconds: int) -> str:
    moment = START + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def spread_events(
    make_event: EventFactory, count: int, seed: int
) -> list[dict[str, Any]]:
    """Events over three days at second resolution, a few of them unpriced."""
    rng = random.Random(seed)
    events = []
    for _ in range(count):
        priced = rng.random() < 0.8
        events.append(
            make_event(
                started_at=at(rng.randrange(3 * 86400)),
                user=rng.choice(USERS),
                model=rng.choice(MODELS),
                ticket=rng.choice(TICKETS),
                input_tokens=rng.randrange(1000),
                cost_usd=rng.randrange(1, 10**6) / 10**9 if priced else None,
                cost_status="priced" if priced else "unpriced",
            )
        )
    return events


def send(client: TestClient, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 200):
        response = client.post(
            "/v1/events", json={"events": events[start : start + 200]}
        )
        assert response.status_code == 200, response.text


def expected_rows(
    events: list[dict[str, Any]], by: list[str], bucket: str, since: str, until: str
) -> list[dict[str, Any]]:
    """The rows /v1/spend must return, worked out from the events sent."""
    low, high = widened(since, until, bucket)
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        t = epoch(event["started_at"].replace("Z", "+00:00"))
        if not low <= t < high:
            continue
        size = BUCKET_SECONDS.get(bucket)
        start = None if size is None else t - t % size
        groups[(start, *(event[d] for d in by))].append(event)
    rows = []
    for key in sorted(groups, key=lambda k: [(v is not None, v or "") for v in k]):
        members = groups[key]
        costs = [Decimal(str(m["cost_usd"])) for m in members if m["cost_usd"]]
        row: dict[str, Any] = {
            "bucket_start": None
            if key[0] is None
            else datetime.fromtimestamp(key[0], UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        }
        row.update(zip(by, key[1:], strict=True))
        row.update(
            calls=len(members),
            input_tokens=sum(m["input_tokens"] for m in members),
            cost_usd=sum(costs) if costs else None,
            unpriced_calls=sum(1 for m in members if m["cost_usd"] is None),
        )
        rows.append(row)
    return rows


def widened(since: str, until: str, bucket: str) -> tuple[int, int]:
    """The window in whole buckets (whole hours when bucket is none)."""
    size = BUCKET_SECONDS.get(bucket, 3600)
    low, high = epoch(since), epoch(until)
    return low - low % size, high + (-high % size)


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def spend(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/spend", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = json.loads(response.text, parse_float=Decimal)
    return body


def trimmed(rows: list[dict[str, Any]], by: list[str]) -> list[dict[str, Any]]:
    keep = {"bucket_start", *by, "calls", "input_tokens", "cost_usd", "unpriced_calls"}
    return [{k: v for k, v in row.items() if k in keep} for row in rows]


@pytest.mark.parametrize(
    ("by", "bucket", "since", "until"),
    [
        ([], "none", "2025-06-01T09:37:00Z", "2025-06-03T14:05:00Z"),
        (["user"], "day", "2025-06-01T09:37:00Z", "2025-06-03T14:05:00Z"),
        (["model", "ticket"], "hour", "2025-06-01T22:59:00Z", "2025-06-02T03:01:00Z"),
        (["user", "model"], "minute", "2025-06-02T11:50:00Z", "2025-06-02T15:20:00Z"),
        (["ticket"], "day", "2025-05-30T00:00:00Z", "2025-06-05T00:00:00Z"),
    ],
)
def test_spend_equals_sums_worked_out_from_the_events(
    client: TestClient,
    make_event: EventFactory,
    by: list[str],
    bucket: str,
    since: str,
    until: str,
) -> None:
    events = spread_events(make_event, 600, seed=7)
    send(client, events)

    body = spend(client, by=",".join(by), bucket=bucket, since=since, until=until)

    expected = expected_rows(events, by, bucket, since, until)
    assert expected and sum(r["calls"] for r in expected) > 5
    assert trimmed(body["rows"], by) == expected
    assert body["next_cursor"] is None
    low, high = widened(since, until, bucket)
    assert (body["since"], body["until"]) == (iso(low), iso(high))


def test_pages_put_together_equal_the_whole_answer(
    client: TestClient, make_event: EventFactory
) -> None:
    send(client, spread_events(make_event, 300, seed=3))
    params = {
        "by": "user,model",
        "bucket": "hour",
        "since": "2025-06-01T00:00:00Z",
        "until": "2025-06-04T00:00:00Z",
    }
    whole = spend(client, **params)["rows"]

    pages, cursor = [], None
    while True:
        page = spend(
            client, **params, limit=7, **({"cursor": cursor} if cursor else {})
        )
        pages += page["rows"]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert len(whole) > 7
    assert pages == whole


def test_cursor_of_another_query_is_refused(
    client: TestClient, make_event: EventFactory
) -> None:
    send(client, spread_events(make_event, 50, seed=1))
    first = spend(
        client,
        by="user",
        bucket="day",
        since="2025-06-01T00:00:00Z",
        until="2025-06-04T00:00:00Z",
        limit=1,
    )

    other = client.get(
        "/v1/spend",
        params={"by": "model", "bucket": "day", "cursor": first["next_cursor"]},
    )
    garbage = client.get("/v1/spend", params={"cursor": "not-a-cursor"})

    for response in (other, garbage):
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "cursor"


def test_filters_select_values_and_empty_selects_missing(
    client: TestClient, make_event: EventFactory
) -> None:
    events = spread_events(make_event, 200, seed=5)
    send(client, events)
    window = {"since": "2025-05-31T00:00:00Z", "until": "2025-06-05T00:00:00Z"}

    ana = spend(client, bucket="none", user="ana", **window)["rows"]
    nobody = spend(client, bucket="none", user="", model="m-small", **window)["rows"]

    assert ana[0]["calls"] == sum(1 for e in events if e["user"] == "ana")
    assert nobody[0]["calls"] == sum(
        1 for e in events if e["user"] is None and e["model"] == "m-small"
    )


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/spend", {"bucket": "none", "user": "ana\u0000"}),
        ("/v1/movers", {"by": "user", "repo": "\u0000"}),
    ],
)
def test_a_nul_in_a_filter_is_refused_by_name(
    client: TestClient, path: str, params: dict[str, str]
) -> None:
    """PostgreSQL refuses NUL in text outright (a 500 before); both stores say 422."""
    response = client.get(path, params=params)

    assert response.status_code == 422
    (detail,) = response.json()["error"]["details"]
    field = next(name for name in params if name in ("user", "repo"))
    assert detail["field"] == field
    assert "NUL" in detail["message"]


@pytest.mark.parametrize("forged", ["a\u0000b", "\ud800"])
def test_a_cursor_with_text_no_store_holds_is_refused(
    client: TestClient, make_event: EventFactory, forged: str
) -> None:
    """A cursor is base64 of JSON: one rewritten to carry a NUL (PostgreSQL fails
    on it) or a lone surrogate (no store can encode it) was a 500."""
    send(client, spread_events(make_event, 60, seed=3))
    query = {"by": "model", "bucket": "day", "limit": "1"}
    query |= {"since": "2025-05-31T00:00:00Z", "until": "2025-06-05T00:00:00Z"}
    cursor = client.get("/v1/spend", params=query).json()["next_cursor"]
    owner, key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    key = [forged if isinstance(part, str) else part for part in key]
    raw = json.dumps([owner, key]).encode()
    bad = base64.urlsafe_b64encode(raw).decode().rstrip("=")

    response = client.get("/v1/spend", params={**query, "cursor": bad})

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "cursor"


def test_minute_buckets_over_months_are_refused(client: TestClient) -> None:
    response = client.get(
        "/v1/spend",
        params={
            "bucket": "minute",
            "since": "2025-01-01T00:00:00Z",
            "until": "2025-03-01T00:00:00Z",
        },
    )

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "bucket"


def test_movers_rank_the_biggest_changes_first(
    client: TestClient, make_event: EventFactory
) -> None:
    def spent(user: str, day: int, usd: str) -> dict[str, Any]:
        return make_event(
            user=user, started_at=at(day * 86400 + 3600), cost_usd=float(usd)
        )

    send(
        client,
        [
            spent("ana", 0, "1.00"),  # previous window
            spent("ana", 1, "1.10"),  # current window: +0.10
            spent("bo", 0, "2.00"),  # current: nothing, -2.00
            spent("cy", 1, "0.50"),  # new: +0.50
            spent("di", 0, "0.30"),
            spent("di", 1, "0.30"),  # unchanged: left out
        ],
    )

    response = client.get(
        "/v1/movers",
        params={"by": "user", "window": "1d", "until": "2025-06-03T00:00:00Z"},
    )
    body = json.loads(response.text, parse_float=Decimal)

    assert [(r["user"], r["change_usd"]) for r in body["rows"]] == [
        ("bo", Decimal("-2")),
        ("cy", Decimal("0.5")),
        ("ana", Decimal("0.1")),
    ]
    assert body["rows"][2]["change_ratio"] == Decimal("0.1")
    assert body["rows"][1]["change_ratio"] is None
    assert (body["previous_since"], body["since"]) == (
        "2025-06-01T00:00:00.000Z",
        "2025-06-02T00:00:00.000Z",
    )


def to_s(text: str) -> int:
    return epoch(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        (
            "2025-06-01T00:00:00Z",
            "2025-06-03T00:00:00Z",
            [(Grain.DAY, "2025-06-01T00:00:00Z", "2025-06-03T00:00:00Z")],
        ),
        (
            "2025-06-01T22:30:00Z",
            "2025-06-03T01:00:00Z",
            [
                (Grain.DAY, "2025-06-02T00:00:00Z", "2025-06-03T00:00:00Z"),
                (Grain.HOUR, "2025-06-01T23:00:00Z", "2025-06-02T00:00:00Z"),
                (Grain.MINUTE, "2025-06-01T22:30:00Z", "2025-06-01T23:00:00Z"),
                (Grain.HOUR, "2025-06-03T00:00:00Z", "2025-06-03T01:00:00Z"),
            ],
        ),
        (
            "2025-06-01T10:05:00Z",
            "2025-06-01T10:50:00Z",
            [(Grain.MINUTE, "2025-06-01T10:05:00Z", "2025-06-01T10:50:00Z")],
        ),
    ],
)
def test_plan_reads_each_part_of_the_window_from_the_coarsest_table(
    since: str, until: str, expected: list[tuple[Grain, str, str]]
) -> None:
    pieces = plan(to_s(since), to_s(until), GRAINS)

    assert pieces == [Piece(g, to_s(a), to_s(b)) for g, a, b in expected]


def test_plan_of_an_open_window_reads_days_to_the_end() -> None:
    assert plan(None, None, GRAINS) == [Piece(Grain.DAY, None, None)]
    assert plan(to_s("2025-06-01T23:00:00Z"), None, GRAINS) == [
        Piece(Grain.DAY, to_s("2025-06-02T00:00:00Z"), None),
        Piece(Grain.HOUR, to_s("2025-06-01T23:00:00Z"), to_s("2025-06-02T00:00:00Z")),
    ]


@pytest.mark.parametrize(
    ("query", "field"),
    [("untill=2025-06-01T00:00:00Z", "untill"), ("by=user&by=model", "by")],
)
def test_unknown_or_repeated_query_parameter_is_422(
    client: TestClient, query: str, field: str
) -> None:
    response = client.get(f"/v1/spend?{query}")

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == field


def test_times_before_1970_are_refused_with_the_reason(client: TestClient) -> None:
    response = client.get("/v1/movers", params={"until": "0001-01-03T00:00:00Z"})

    assert response.status_code == 422
    assert "1970" in response.json()["error"]["message"]


def test_wrong_method_lists_every_method_the_path_takes(client: TestClient) -> None:
    response = client.delete("/v1/drops")

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, POST"


@pytest.mark.parametrize(
    "key",
    [["x", "a"], [1748736000, 5], [2**70, "a"], [-1, "a"], [True, "a"]],
)
def test_a_made_up_cursor_is_refused_not_an_error(
    client: TestClient, make_event: EventFactory, key: list[object]
) -> None:
    """A cursor carries the query's id, which a client can work out: its key must
    still have the shape and range of a key the engine made."""
    client.post("/v1/events", json={"events": [make_event(user=u) for u in "ab"]})
    params: dict[str, str | int] = {
        "by": "user",
        "bucket": "day",
        "since": "2025-06-01T00:00:00Z",
        "limit": 1,
    }
    text = client.get("/v1/spend", params=params).json()["next_cursor"]
    owner = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))[0]
    forged = base64.urlsafe_b64encode(json.dumps([owner, key]).encode()).decode()

    answer = client.get("/v1/spend", params={**params, "cursor": forged})

    assert answer.status_code == 422, answer.text
    assert "cursor is not one this engine made" in answer.text
