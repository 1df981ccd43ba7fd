"""The engine's tables at the current migration (SQLAlchemy Core), for queries.

The migrations in :mod:`spendtap.engine.migrations` create these tables; a test checks
that a database upgraded to head matches this module. On PostgreSQL ``events`` is
partitioned by month of ``started_ms`` (its primary key is then ``(seq,
started_ms)``); on SQLite it is one table keyed by ``seq``.

    events          raw usage events, append-only; ``seq`` is the arrival order
    event_index     every event_id ever received (the de-duplication ledger), with
                    the ids and fingerprint that find the same call from another source
    event_links     cross-source duplicates: which stored call each one is, and why
    rollup_*        sums per time bucket and dimension values (see rollup.py)
    drops           drop records: events a collector lost on purpose, counted
    devices, enrollment_codes, api_tokens   access (see access.py)
    engine_counters the event sequence (taken under the ingest lock)

Money is integer nano-USD. Times the API shows keep their RFC 3339 text; the
``*_ms`` columns are the same instants as milliseconds since the epoch, for ranges.
A missing dimension value is keyed as ``''`` in rollups (SQL unique keys treat NULLs
as distinct, which would split one group into many rows).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
)

from spendtap.engine.rollup import CUBES, MEASURES, NULLABLE_MEASURES

metadata = MetaData()

#: SQLite makes only ``INTEGER PRIMARY KEY`` an alias of its row id.
_SEQ = BigInteger().with_variant(Integer(), "sqlite")


def _text(name: str, nullable: bool = True) -> Column[str]:
    return Column(name, Text, nullable=nullable)


def _count(name: str) -> Column[int]:
    return Column(name, BigInteger, nullable=True)


def event_columns() -> list[Column[Any]]:
    """The columns of ``events`` after ``seq`` and ``started_ms`` (fresh objects)."""
    columns: list[Column[Any]] = [
        Column("event_id", Text, nullable=False),
        _text("capture_source", nullable=False),
        _text("provider", nullable=False),
        _text("api", nullable=False),
        _text("model_requested"),
        _text("model"),
        _text("region"),
        Column("streaming", Boolean, nullable=False),
        _text("status", nullable=False),
        Column("http_status", Integer, nullable=True),
        _text("error_type"),
        _count("input_tokens"),
        _count("cache_read_tokens"),
        _count("cache_write_5m_tokens"),
        _count("cache_write_1h_tokens"),
        _count("output_tokens"),
        _count("reasoning_tokens"),
        _count("web_search_requests"),
        _text("usage_source", nullable=False),
        Column("cost_nanos", BigInteger, nullable=True),
        _text("cost_status", nullable=False),
        _text("price_ref"),
        _text("started_at", nullable=False),
        _text("ended_at"),
        _count("ttft_ms"),
        _count("duration_ms"),
        _text("request_id"),
        _text("response_id"),
        _text("user"),
        _text("os_user"),
        _text("device_id"),
        _text("hostname"),
        _text("agent"),
        _text("agent_version"),
        _text("process"),
        _count("pid"),
        _text("repo"),
        _text("branch"),
        _text("commit"),
        _text("ticket"),
        _text("session_id"),
        _text("auth_kind"),
        _text("credential_hint"),
        Column("agent_cost_nanos", BigInteger, nullable=True),
        _text("received_at", nullable=False),
        Column("clock_skew_s", Integer, nullable=True),
        _text("shipped_by"),
    ]
    return columns


events = Table(
    "events",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=False),
    Column("started_ms", BigInteger, nullable=False),
    *event_columns(),
)
Index("ix_events_started_ms", events.c.started_ms)

#: The columns of ``events`` in table order (the bulk insert writes them all).
EVENT_COLUMNS: tuple[str, ...] = tuple(c.name for c in events.columns)

event_index = Table(
    "event_index",
    metadata,
    Column("event_id", Text, primary_key=True),
    Column("seq", BigInteger, nullable=True),
    Column("started_ms", BigInteger, nullable=False),
    _text("capture_source", nullable=False),
    _text("provider", nullable=False),
    _text("response_id"),
    _text("request_id"),
    _text("fingerprint"),
    _text("duplicate_of"),
)
Index(
    "ix_event_index_response",
    event_index.c.response_id,
    sqlite_where=event_index.c.response_id.is_not(None),
    postgresql_where=event_index.c.response_id.is_not(None),
)
Index(
    "ix_event_index_request",
    event_index.c.request_id,
    sqlite_where=event_index.c.request_id.is_not(None),
    postgresql_where=event_index.c.request_id.is_not(None),
)
Index(
    "ix_event_index_fingerprint",
    event_index.c.fingerprint,
    event_index.c.started_ms,
    sqlite_where=event_index.c.fingerprint.is_not(None),
    postgresql_where=event_index.c.fingerprint.is_not(None),
)
INDEX_COLUMNS: tuple[str, ...] = tuple(c.name for c in event_index.columns)

event_links = Table(
    "event_links",
    metadata,
    Column("event_id", Text, primary_key=True),
    Column("duplicate_of", Text, nullable=False),
    _text("capture_source", nullable=False),
    _text("matched_by", nullable=False),
    _text("filled"),
    _text("linked_at", nullable=False),
)
Index("ix_event_links_duplicate_of", event_links.c.duplicate_of)


def _rollup_table(name: str, time_column: str, dims: tuple[str, ...]) -> Table:
    return Table(
        name,
        metadata,
        Column(time_column, BigInteger, primary_key=True, autoincrement=False),
        *(Column(d, Text, primary_key=True, server_default="") for d in dims),
        *(Column(m, BigInteger, nullable=m in NULLABLE_MEASURES) for m in MEASURES),
    )


rollups: dict[str, Table] = {
    cube.table_name(grain): _rollup_table(
        cube.table_name(grain), grain.column, tuple(d.value for d in cube.dims)
    )
    for cube in CUBES
    for grain in cube.grains
}
rollup_hourly = rollups["rollup_hourly"]

drops = Table(
    "drops",
    metadata,
    Column("drop_id", Text, primary_key=True),
    _text("device_id"),
    Column("count", BigInteger, nullable=False),
    _text("reason", nullable=False),
    _text("first_at", nullable=False),
    _text("last_at", nullable=False),
    Column("first_ms", BigInteger, nullable=False),
    Column("last_ms", BigInteger, nullable=False),
    _text("received_at", nullable=False),
    _text("shipped_by"),
)

devices = Table(
    "devices",
    metadata,
    Column("device_id", Text, primary_key=True),
    _text("token_hash", nullable=False),
    _text("hostname", nullable=False),
    _text("os_user", nullable=False),
    _text("note"),
    _text("enrolled_at", nullable=False),
    _text("revoked_at"),
)

enrollment_codes = Table(
    "enrollment_codes",
    metadata,
    Column("code_hash", Text, primary_key=True),
    _text("note"),
    _text("created_at", nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    _text("expires_at", nullable=False),
    _text("used_at"),
    _text("device_id"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_id", Text, primary_key=True),
    _text("name", nullable=False),
    _text("role", nullable=False),
    _text("token_hash", nullable=False),
    _text("created_at", nullable=False),
    _text("revoked_at"),
)

engine_counters = Table(
    "engine_counters",
    metadata,
    Column("name", Text, primary_key=True),
    Column("value", BigInteger, nullable=False),
)
EVENT_SEQ = "event_seq"
