"""Schema migrations: a first-engine database upgrades with its data, on both stores."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient

from spendtap.cli.main import main
from spendtap.engine.app import create_app
from spendtap.engine.database import open_database
from spendtap.engine.migrate import HEAD, alembic_config, upgrade_database
from spendtap.engine.state import EngineConfig
from spendtap.engine.tables import metadata
from spendtap.errors import ConfigError

from .conftest import EventFactory, connect_raw

V1_COLUMNS = (
    "event_id, capture_source, provider, api, model, streaming, status, "
    'usage_source, cost_nanos, cost_status, started_at, received_at, "user", '
    "input_tokens, output_tokens, response_id, request_id"
)


def migrate_to(db_url: str, revision: str) -> None:
    engine = open_database(db_url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), revision)
    finally:
        engine.dispose()


def run_sql(db_url: str, *statements: str) -> None:
    conn = connect_raw(db_url)
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


def v1_row(n: int, started_at: str, user: str, cost_nanos: int | None) -> str:
    cost = "NULL" if cost_nanos is None else str(cost_nanos)
    status = "unpriced" if cost_nanos is None else "priced"
    return (
        f"('old-{n}', 'proxy', 'anthropic', 'messages', 'claude-x', TRUE, 'ok', "
        f"'provider', {cost}, '{status}', '{started_at}', '2025-06-01T12:00:00.000Z', "
        f"'{user}', {n * 10}, {n}, 'msg-old-{n}', 'req-old-{n}')"
    )


def test_head_constant_is_the_newest_migration() -> None:
    script = ScriptDirectory.from_config(alembic_config())

    assert script.get_current_head() == HEAD


def test_upgraded_sqlite_schema_matches_the_tables_module(fresh_db_url: str) -> None:
    if not fresh_db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's events table is partitioned, unlike tables.py's")
    engine = open_database(fresh_db_url)
    upgrade_database(engine)
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()

    assert differences == []


def test_first_engine_database_upgrades_with_its_events(
    fresh_db_url: str, make_event: EventFactory
) -> None:
    migrate_to(fresh_db_url, "0001")
    rows = [
        v1_row(1, "2025-05-31T23:59:30.000Z", "ana", 1_000),
        v1_row(2, "2025-06-01T00:00:10.500Z", "ana", 2_000),
        v1_row(3, "2025-06-01T10:15:00.000+02:00", "bo", None),
    ]
    run_sql(
        fresh_db_url,
        f"INSERT INTO events ({V1_COLUMNS}) VALUES {', '.join(rows)}",
    )

    with TestClient(create_app(fresh_db_url)) as client:
        resent = client.post(
            "/v1/events",
            json={"events": [make_event(event_id="old-2"), make_event(event_id="new")]},
        ).json()
        by_day = client.get(
            "/v1/spend",
            params={
                "by": "user",
                "bucket": "day",
                "since": "2025-05-31T00:00:00Z",
                "until": "2025-06-02T00:00:00Z",
            },
        ).json()
        feed = client.get("/v1/events", params={"after": 0}).json()["events"]

    assert resent["accepted"] == 1 and resent["duplicates"] == 1
    cells = {(r["bucket_start"][:10], r["user"]): r["calls"] for r in by_day["rows"]}
    # old-3 started 08:15 UTC on June 1st; "new" (make_event) 10:15 UTC, user ana.
    assert cells == {
        ("2025-05-31", "ana"): 1,
        ("2025-06-01", "ana"): 1,
        ("2025-06-01", "bo"): 1,
        ("2025-06-01", "ana@example.com"): 1,
    }
    assert [(e["seq"], e["event_id"]) for e in feed] == [
        (1, "old-1"),
        (2, "old-2"),
        (3, "old-3"),
        (4, "new"),
    ]


def test_pre_alembic_database_is_recognised_not_recreated(sqlite_path: Any) -> None:
    url = f"sqlite:///{sqlite_path}"
    migrate_to(url, "0001")
    run_sql(
        url,
        f"INSERT INTO events ({V1_COLUMNS}) VALUES "
        + v1_row(1, "2025-06-01T10:00:00.000Z", "ana", 5),
        "DROP TABLE alembic_version",
    )

    with TestClient(create_app(url)) as client:
        body = client.get("/v1/report", params={"by": "user"}).json()

    assert body["totals"]["calls"] == 1


def test_database_of_a_newer_spendtap_is_refused(fresh_db_url: str) -> None:
    migrate_to(fresh_db_url, "head")
    run_sql(fresh_db_url, "UPDATE alembic_version SET version_num = '9999'")

    with pytest.raises(ConfigError, match="upgrade spendtap"):
        create_app(fresh_db_url)


def test_no_migrate_refuses_a_database_not_at_head(fresh_db_url: str) -> None:
    with pytest.raises(ConfigError, match="spendtap db upgrade"):
        create_app(fresh_db_url, config=EngineConfig(migrate=False))


def test_replicas_starting_together_migrate_once(fresh_db_url: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def upgrade() -> None:
        engine = open_database(fresh_db_url)
        try:
            start.wait()
            upgrade_database(engine)
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=upgrade) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    conn = connect_raw(fresh_db_url)
    try:
        versions = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    finally:
        conn.close()
    assert [tuple(v) for v in versions] == [(HEAD,)]


def test_db_upgrade_command_reports_what_it_did(
    fresh_db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "upgrade", "--db", fresh_db_url]) == 0
    assert main(["db", "upgrade", "--db", fresh_db_url]) == 0
    assert main(["db", "current", "--db", fresh_db_url]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(f"upgraded from revision none to {HEAD}")
    assert lines[1].endswith(f"already at schema revision {HEAD}")
    assert lines[2] == f"{HEAD} (head)"
