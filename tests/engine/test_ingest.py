"""POST /v1/events: storage of each field, duplicates, gzip, limits, and the token."""

from __future__ import annotations

import gzip
import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from spendtap.engine.app import create_app
from spendtap.engine.schema import EventIn
from spendtap.engine.state import IngestLimits
from spendtap.event import EVENT_FIELDS

from .conftest import EventFactory, QueryDb, QueryDicts


def post(client: TestClient, events: list[dict[str, Any]], **kw: Any) -> Any:
    return client.post("/v1/events", json={"events": events}, **kw)


def count_events(query_db: QueryDb) -> int:
    return int(query_db("SELECT COUNT(*) FROM events")[0][0])


def test_event_model_has_exactly_the_usage_event_fields() -> None:
    assert tuple(EventIn.model_fields) == EVENT_FIELDS


def test_every_field_is_stored_with_cost_in_nano_usd_and_received_at(
    client: TestClient, make_event: EventFactory, query_dicts: QueryDicts
) -> None:
    sent = make_event(
        region="us",
        error_type="overloaded",
        reasoning_tokens=7,
        cache_write_1h_tokens=9,
        web_search_requests=2,
        cost_usd=0.123456789,
    )
    before = datetime.now(UTC).replace(microsecond=0)

    response = post(client, [sent])

    assert response.status_code == 200
    assert response.json() == {
        "accepted": 1,
        "duplicates": 0,
        "cross_source_duplicates": 0,
    }
    (stored,) = query_dicts("SELECT * FROM events")
    for field in EVENT_FIELDS:
        if field == "cost_usd":
            assert stored["cost_nanos"] == 123_456_789
        elif field == "agent_cost_usd":
            assert stored["agent_cost_nanos"] is None
        elif field == "streaming":
            assert stored[field] == 1
        else:
            assert stored[field] == sent[field], field
    received = datetime.fromisoformat(stored["received_at"])
    assert before <= received <= datetime.now(UTC)
    assert stored["received_at"].endswith("Z")


@pytest.mark.parametrize(
    ("cost_usd", "nanos"),
    [
        (0.1, 100_000_000),
        (0.000000001, 1),
        (3, 3_000_000_000),
        (12.345678901, 12_345_678_901),
        (0.30000000000000004, 300_000_000),  # beyond the 9th decimal: rounded
        (1.0000000005, 1_000_000_000),  # half to even
        (1.0000000015, 1_000_000_002),
        (None, None),
    ],
)
def test_cost_is_stored_as_exact_nano_usd(
    client: TestClient,
    make_event: EventFactory,
    query_db: QueryDb,
    cost_usd: float | None,
    nanos: int | None,
) -> None:
    status = "unpriced" if cost_usd is None else "priced"
    post(client, [make_event(cost_usd=cost_usd, cost_status=status)])

    assert query_db("SELECT cost_nanos FROM events") == [(nanos,)]


def test_gzip_body_is_accepted(
    client: TestClient, make_event: EventFactory, query_db: QueryDb
) -> None:
    body = gzip.compress(json.dumps({"events": [make_event(), make_event()]}).encode())

    response = client.post(
        "/v1/events",
        content=body,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )

    assert response.json() == {
        "accepted": 2,
        "duplicates": 0,
        "cross_source_duplicates": 0,
    }
    assert count_events(query_db) == 2


def test_cut_gzip_body_is_rejected_in_the_error_shape(
    client: TestClient, make_event: EventFactory, query_db: QueryDb
) -> None:
    body = gzip.compress(json.dumps({"events": [make_event()]}).encode())

    response = client.post(
        "/v1/events", content=body[:-12], headers={"Content-Encoding": "gzip"}
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_batch"
    assert "gzip" in response.json()["error"]["message"]
    assert count_events(query_db) == 0


def test_unknown_content_encoding_is_415(client: TestClient) -> None:
    response = client.post(
        "/v1/events", content=b"xx", headers={"Content-Encoding": "compress"}
    )

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_encoding"
    assert response.json()["error"]["details"][0]["field"] == "Content-Encoding"


def test_empty_batch_is_accepted_as_nothing(client: TestClient) -> None:
    assert post(client, []).json() == {
        "accepted": 0,
        "duplicates": 0,
        "cross_source_duplicates": 0,
    }


def test_same_event_id_twice_in_one_batch_is_stored_once(
    client: TestClient, make_event: EventFactory, query_db: QueryDb
) -> None:
    first = make_event(event_id="dup-1", input_tokens=10)
    again = make_event(event_id="dup-1", input_tokens=99)

    response = post(client, [first, again, make_event()])

    assert response.json() == {
        "accepted": 2,
        "duplicates": 1,
        "cross_source_duplicates": 0,
    }
    assert query_db("SELECT input_tokens FROM events WHERE event_id='dup-1'") == [(10,)]
    assert query_db("SELECT SUM(calls) FROM rollup_hourly") == [(2,)]


def test_repeated_batch_is_all_duplicates_and_changes_nothing(
    client: TestClient, make_event: EventFactory, query_db: QueryDb
) -> None:
    batch = [make_event(), make_event(), make_event()]
    post(client, batch)
    rollup_before = query_db("SELECT * FROM rollup_hourly")

    response = post(client, batch)

    assert response.json() == {
        "accepted": 0,
        "duplicates": 3,
        "cross_source_duplicates": 0,
    }
    assert count_events(query_db) == 3
    assert query_db("SELECT * FROM rollup_hourly") == rollup_before


def test_concurrent_overlapping_batches_store_each_event_once(
    db_url: str, make_event: EventFactory, query_db: QueryDb
) -> None:
    # 8 threads over two app replicas on one file; thread k sends ids 10k..10k+39,
    # so every id but the first ten and the last ten is sent by several threads.
    events = [make_event(event_id=f"c-{i:03d}", input_tokens=i) for i in range(110)]
    replicas = [TestClient(create_app(db_url)) for _ in range(2)]
    results: list[dict[str, int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def send(k: int) -> None:
        try:
            start.wait()
            mine = events[10 * k : 10 * k + 40]
            for part in (mine[:20], mine[20:]):
                response = post(replicas[k % 2], part)
                assert response.status_code == 200, response.text
                results.append(response.json())
        except BaseException as exc:
            errors.append(exc)

    with replicas[0], replicas[1]:
        threads = [threading.Thread(target=send, args=(k,)) for k in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

    assert errors == []
    assert sum(r["accepted"] for r in results) == 110
    assert sum(r["duplicates"] for r in results) == 8 * 40 - 110
    assert count_events(query_db) == 110
    assert query_db("SELECT SUM(calls), SUM(input_tokens) FROM rollup_hourly") == [
        (110, sum(range(110)))
    ]


def test_sqlite_database_folder_is_created_and_in_wal_mode(sqlite_path: Path) -> None:
    with TestClient(create_app(f"sqlite:///{sqlite_path}")):
        pass

    assert sqlite_path.is_file()
    with sqlite3.connect(sqlite_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchall() == [("wal",)]


def test_healthz_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_openapi_spec_documents_the_batch_with_every_event_field(
    client: TestClient,
) -> None:
    spec = client.get("/openapi.json").json()

    assert {"/v1/events", "/v1/report", "/healthz"} <= set(spec["paths"])
    body = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]
    schema = body["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/BatchIn"}
    event = spec["components"]["schemas"]["EventIn"]
    assert set(event["required"]) == set(EVENT_FIELDS) - {"agent_cost_usd"}
    assert event["additionalProperties"] is False


def test_unknown_path_answers_in_the_error_shape(client: TestClient) -> None:
    response = client.get("/v1/nothing")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


class TestSizeLimits:
    def client_with(self, db_url: str, **limits: int) -> TestClient:
        return TestClient(create_app(db_url, limits=IngestLimits(**limits)))

    def assert_413(self, response: Any, query_db: QueryDb) -> None:
        assert response.status_code == 413
        error = response.json()["error"]
        assert error["code"] == "batch_too_large"
        assert "smaller batches" in error["details"][0]["fix"]
        assert count_events(query_db) == 0

    def test_body_over_the_byte_limit_is_413(
        self, db_url: str, make_event: EventFactory, query_db: QueryDb
    ) -> None:
        events = [make_event(), make_event(), make_event()]
        assert len(json.dumps({"events": events})) > 3000

        with self.client_with(db_url, max_body_bytes=3000) as small:
            self.assert_413(post(small, events), query_db)

    def test_more_events_than_the_limit_is_413(
        self, db_url: str, make_event: EventFactory, query_db: QueryDb
    ) -> None:
        events = [make_event() for _ in range(4)]

        with self.client_with(db_url, max_events=3) as small:
            self.assert_413(post(small, events), query_db)
            assert post(small, events[:3]).json()["accepted"] == 3

    def test_gzip_that_inflates_past_the_limit_is_413(
        self, db_url: str, query_db: QueryDb
    ) -> None:
        bomb = gzip.compress(b'{"events": [' + b" " * 1_000_000 + b"]}")
        assert len(bomb) < 3000

        with self.client_with(db_url, max_body_bytes=3000) as small:
            response = small.post(
                "/v1/events", content=bomb, headers={"Content-Encoding": "gzip"}
            )

        self.assert_413(response, query_db)


class TestToken:
    @pytest.fixture
    def guarded(self, db_url: str) -> Any:
        with TestClient(create_app(db_url, ingest_token="s3cret")) as test_client:
            yield test_client

    @pytest.mark.parametrize(
        "headers",
        [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic czNjcmV0"}],
    )
    def test_missing_or_wrong_token_is_401(
        self,
        guarded: TestClient,
        make_event: EventFactory,
        query_db: QueryDb,
        headers: dict[str, str],
    ) -> None:
        response = post(guarded, [make_event()], headers=headers)

        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "unauthorized"
        assert count_events(query_db) == 0

    def test_right_token_is_accepted(
        self, guarded: TestClient, make_event: EventFactory
    ) -> None:
        response = post(
            guarded, [make_event()], headers={"Authorization": "Bearer s3cret"}
        )

        assert response.json() == {
            "accepted": 1,
            "duplicates": 0,
            "cross_source_duplicates": 0,
        }

    def test_report_needs_the_token_and_healthz_does_not(
        self, guarded: TestClient
    ) -> None:
        assert guarded.get("/v1/report").status_code == 401
        ok = guarded.get("/v1/report", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert guarded.get("/healthz").status_code == 200
