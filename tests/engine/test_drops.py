"""Drop records: kept once per drop_id, listed, and counted in the report window."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient


def drop(
    drop_id: str, count: int, first: str, last: str, **more: Any
) -> dict[str, Any]:
    return {
        "drop_id": drop_id,
        "device_id": "dev-1",
        "count": count,
        "reason": "spool_max_age",
        "first_at": first,
        "last_at": last,
        **more,
    }


DROPS = [
    drop("d1", 5, "2025-06-01T08:00:00Z", "2025-06-01T08:30:00Z"),
    drop("d2", 7, "2025-06-01T11:00:00Z", "2025-06-01T13:00:00Z"),
    drop("d3", 11, "2025-06-02T09:00:00Z", "2025-06-02T09:00:00Z"),
]


def test_drops_are_kept_once_each(client: TestClient) -> None:
    first = client.post("/v1/drops", json={"drops": DROPS[:2]})
    again = client.post("/v1/drops", json={"drops": DROPS})

    assert first.json() == {"accepted": 2, "duplicates": 0}
    assert again.json() == {"accepted": 1, "duplicates": 2}
    listed = client.get("/v1/drops").json()
    assert [(d["drop_id"], d["count"]) for d in listed["drops"]] == [
        ("d1", 5),
        ("d2", 7),
        ("d3", 11),
    ]
    assert listed["drops"][0]["shipped_by"] == "open"


@pytest.mark.parametrize(
    ("since", "until", "dropped"),
    [
        (None, None, 23),
        ("2025-06-01T09:00:00Z", None, 18),  # d1 ended before 09:00
        ("2025-06-01T12:00:00Z", "2025-06-02T00:00:00Z", 7),  # d2 overlaps
        ("2025-06-03T00:00:00Z", None, 0),
    ],
)
def test_report_totals_count_the_drops_overlapping_the_window(
    client: TestClient, since: str | None, until: str | None, dropped: int
) -> None:
    client.post("/v1/drops", json={"drops": DROPS})
    window = {k: v for k, v in (("since", since), ("until", until)) if v}

    totals = client.get("/v1/report", params={"by": "model", **window}).json()["totals"]

    assert totals["dropped_events"] == dropped


def test_drop_pages_follow_the_cursor(client: TestClient) -> None:
    client.post("/v1/drops", json={"drops": DROPS})

    first = client.get("/v1/drops", params={"limit": 2}).json()
    rest = client.get("/v1/drops", params={"cursor": first["next_cursor"]}).json()

    assert [d["drop_id"] for d in first["drops"]] == ["d1", "d2"]
    assert [d["drop_id"] for d in rest["drops"]] == ["d3"]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"count": 0}, "count"),
        ({"first_at": "yesterday"}, "first_at"),
        ({"last_at": "2025-06-01T07:00:00Z"}, None),  # before first_at
        ({"extra": 1}, "extra"),
        # PostgreSQL cannot store NUL (a 500 there before); both stores say 422.
        ({"reason": "spool full\u0000"}, "reason"),
        ({"drop_id": "\u0000"}, "drop_id"),
    ],
)
def test_bad_drop_record_is_422_and_nothing_is_kept(
    client: TestClient, change: dict[str, Any], field: str | None
) -> None:
    bad = DROPS[0] | change

    response = client.post("/v1/drops", json={"drops": [DROPS[1], bad]})

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    if field is not None:
        assert any(field in (d["field"] or "") for d in error["details"])
    assert client.get("/v1/drops").json()["drops"] == []


def test_a_drop_cursor_with_a_nul_is_422(client: TestClient) -> None:
    response = client.get("/v1/drops", params={"cursor": "d-\u0000"})

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "cursor"


def test_a_nul_in_a_drop_record_is_named_with_the_fix(client: TestClient) -> None:
    response = client.post(
        "/v1/drops", json={"drops": [DROPS[0] | {"reason": "full\u0000"}]}
    )

    (detail,) = response.json()["error"]["details"]
    assert detail["message"] == (
        "drops.0.reason holds a NUL character (U+0000), which no store can keep"
    )
    assert detail["fix"] == "drop the NUL from it at the source"
