"""The production store: ledger, links, rollups at three grains, access and drops.

- ``events`` gains ``started_ms`` (partition key), ``agent_cost_nanos``,
  ``clock_skew_s`` and ``shipped_by``; on PostgreSQL it becomes partitioned by
  month. Its event_id uniqueness moves to the ``event_index`` ledger.
- Rollups are kept for four cubes (core, people, work, full; see rollup.py) by
  minute, hour and day; they are rebuilt here from the events.
- New: ``event_links``, ``drops``, ``devices``, ``enrollment_codes``,
  ``api_tokens``, ``engine_counters``.

Existing events are copied with their seq, so arrival order is kept.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from alembic import op

from spendtap.engine.dedup import fingerprint
from spendtap.engine.partitions import Month, create_partitions
from spendtap.engine.rollup import add_nullable
from spendtap.engine.rollup_sql import rebuild_rollups
from spendtap.engine.timestamps import rfc3339_to_ms

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_COPY_CHUNK = 5000
_TOKENS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "web_search_requests",
)
#: The contract fields of revision 0001's events table, in event order.
_V1_FIELDS = (
    "event_id",
    "capture_source",
    "provider",
    "api",
    "model_requested",
    "model",
    "region",
    "streaming",
    "status",
    "http_status",
    "error_type",
    *_TOKENS,
    "usage_source",
    "cost_nanos",
    "cost_status",
    "price_ref",
    "started_at",
    "ended_at",
    "ttft_ms",
    "duration_ms",
    "request_id",
    "response_id",
    "user",
    "os_user",
    "device_id",
    "hostname",
    "agent",
    "agent_version",
    "process",
    "pid",
    "repo",
    "branch",
    "commit",
    "ticket",
    "session_id",
    "auth_kind",
    "credential_hint",
)
_INTEGER = {"http_status"}
_BIG = {*_TOKENS, "cost_nanos", "ttft_ms", "duration_ms", "pid"}
_REQUIRED = {
    "event_id",
    "capture_source",
    "provider",
    "api",
    "streaming",
    "status",
    "usage_source",
    "cost_status",
    "started_at",
}
_DIMS = ("model", "provider", "agent", "user", "repo", "ticket")
_MEASURES = ("calls", *_TOKENS, "cost_nanos", "agent_cost_nanos", "unpriced_calls")
_ROLLUPS = {
    "rollup_minute": ("minute_start", _DIMS),
    "rollup_hourly": ("hour_start", _DIMS),
    "rollup_daily": ("day_start", _DIMS),
    "rollup_core_minute": ("minute_start", ("model", "provider", "agent")),
    "rollup_core_hourly": ("hour_start", ("model", "provider", "agent")),
    "rollup_core_daily": ("day_start", ("model", "provider", "agent")),
    "rollup_people_hourly": ("hour_start", ("user", "agent")),
    "rollup_people_daily": ("day_start", ("user", "agent")),
    "rollup_work_hourly": ("hour_start", ("repo", "ticket")),
    "rollup_work_daily": ("day_start", ("repo", "ticket")),
}


def _field_column(name: str) -> sa.Column[Any]:
    if name == "streaming":
        kind: Any = sa.Boolean
    elif name in _INTEGER:
        kind = sa.Integer
    elif name in _BIG:
        kind = sa.BigInteger
    else:
        kind = sa.Text
    return sa.Column(name, kind, nullable=name not in _REQUIRED)


def _event_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite")),
        sa.Column("started_ms", sa.BigInteger, nullable=False),
        *(_field_column(name) for name in _V1_FIELDS),
        sa.Column("agent_cost_nanos", sa.BigInteger),
        sa.Column("received_at", sa.Text, nullable=False),
        sa.Column("clock_skew_s", sa.Integer),
        sa.Column("shipped_by", sa.Text),
    ]


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    op.rename_table("events", "events_v1")
    _create_events(postgres)
    _create_ledger()
    op.drop_table("rollup_hourly")
    for name, (time_column, dims) in _ROLLUPS.items():
        _create_rollup(name, time_column, dims)
    _create_access_tables()
    _create_drops()
    op.create_table(
        "engine_counters",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    last_seq = _copy_events(bind, postgres)
    op.drop_table("events_v1")
    op.bulk_insert(
        sa.table("engine_counters", sa.column("name"), sa.column("value")),
        [{"name": "event_seq", "value": last_seq}],
    )
    rebuild_rollups(bind)


def _create_events(postgres: bool) -> None:
    columns = _event_columns()
    if postgres:
        op.create_table(
            "events",
            *columns,
            sa.PrimaryKeyConstraint("seq", "started_ms", name="pk_events"),
            postgresql_partition_by="RANGE (started_ms)",
        )
        return
    columns[0] = sa.Column(
        "seq", sa.Integer, primary_key=True, autoincrement=False, nullable=False
    )
    op.create_table("events", *columns)
    op.create_index("ix_events_started_ms", "events", ["started_ms"])


def _create_ledger() -> None:
    op.create_table(
        "event_index",
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("seq", sa.BigInteger),
        sa.Column("started_ms", sa.BigInteger, nullable=False),
        sa.Column("capture_source", sa.Text, nullable=False),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("response_id", sa.Text),
        sa.Column("request_id", sa.Text),
        sa.Column("fingerprint", sa.Text),
        sa.Column("duplicate_of", sa.Text),
    )
    for name, columns in (
        ("ix_event_index_response", ["response_id"]),
        ("ix_event_index_request", ["request_id"]),
        ("ix_event_index_fingerprint", ["fingerprint", "started_ms"]),
    ):
        where = sa.text(f"{columns[0]} IS NOT NULL")
        op.create_index(
            name, "event_index", columns, sqlite_where=where, postgresql_where=where
        )
    op.create_table(
        "event_links",
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("duplicate_of", sa.Text, nullable=False),
        sa.Column("capture_source", sa.Text, nullable=False),
        sa.Column("matched_by", sa.Text, nullable=False),
        sa.Column("filled", sa.Text),
        sa.Column("linked_at", sa.Text, nullable=False),
    )
    op.create_index("ix_event_links_duplicate_of", "event_links", ["duplicate_of"])


def _create_rollup(name: str, time_column: str, dims: tuple[str, ...]) -> None:
    nullable = {*_TOKENS, "cost_nanos", "agent_cost_nanos"}
    op.create_table(
        name,
        sa.Column(time_column, sa.BigInteger, primary_key=True, autoincrement=False),
        *(sa.Column(d, sa.Text, primary_key=True, server_default="") for d in dims),
        *(sa.Column(m, sa.BigInteger, nullable=m in nullable) for m in _MEASURES),
    )


def _create_access_tables() -> None:
    op.create_table(
        "devices",
        sa.Column("device_id", sa.Text, primary_key=True),
        sa.Column("token_hash", sa.Text, nullable=False),
        sa.Column("hostname", sa.Text, nullable=False),
        sa.Column("os_user", sa.Text, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("enrolled_at", sa.Text, nullable=False),
        sa.Column("revoked_at", sa.Text),
    )
    op.create_table(
        "enrollment_codes",
        sa.Column("code_hash", sa.Text, primary_key=True),
        sa.Column("note", sa.Text),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.Text, nullable=False),
        sa.Column("used_at", sa.Text),
        sa.Column("device_id", sa.Text),
    )
    op.create_table(
        "api_tokens",
        sa.Column("token_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("token_hash", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("revoked_at", sa.Text),
    )


def _create_drops() -> None:
    op.create_table(
        "drops",
        sa.Column("drop_id", sa.Text, primary_key=True),
        sa.Column("device_id", sa.Text),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("first_at", sa.Text, nullable=False),
        sa.Column("last_at", sa.Text, nullable=False),
        sa.Column("first_ms", sa.BigInteger, nullable=False),
        sa.Column("last_ms", sa.BigInteger, nullable=False),
        sa.Column("received_at", sa.Text, nullable=False),
        sa.Column("shipped_by", sa.Text),
    )


def _copy_events(bind: sa.Connection, postgres: bool) -> int:
    """Copy revision 0001's events (and their ledger rows); return the last seq."""
    names = ("seq", *_V1_FIELDS, "received_at")
    source = sa.table("events_v1", *(sa.column(c) for c in names))
    events = sa.table("events", *(sa.column(c.name) for c in _event_columns()))
    ledger = sa.table(
        "event_index",
        *(sa.column(c) for c in ("event_id", "seq", "started_ms", "capture_source")),
        *(sa.column(c) for c in ("provider", "response_id", "request_id")),
        *(sa.column(c) for c in ("fingerprint", "duplicate_of")),
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(source)
            .where(source.c.seq > last)
            .order_by(source.c.seq)
            .limit(_COPY_CHUNK)
        ).mappings()
        chunk = [_new_event_row(row) for row in rows]
        if not chunk:
            return last
        if postgres:
            create_partitions(bind, {Month.of_ms(r["started_ms"]) for r in chunk})
        bind.execute(sa.insert(events), chunk)
        bind.execute(sa.insert(ledger), [_ledger_row(r) for r in chunk])
        last = int(chunk[-1]["seq"])


def _new_event_row(row: Mapping[Any, Any]) -> dict[str, Any]:
    new = dict(row)
    new["started_ms"] = rfc3339_to_ms(row["started_at"])
    new.update(agent_cost_nanos=None, clock_skew_s=None, shipped_by=None)
    return new


def _ledger_row(row: Mapping[str, Any]) -> dict[str, Any]:
    cache_write = add_nullable(
        row["cache_write_5m_tokens"], row["cache_write_1h_tokens"]
    )
    return {
        "event_id": row["event_id"],
        "seq": row["seq"],
        "started_ms": row["started_ms"],
        "capture_source": row["capture_source"],
        "provider": row["provider"],
        "response_id": row["response_id"],
        "request_id": row["request_id"],
        "fingerprint": fingerprint(
            row["model"],
            row["input_tokens"],
            row["output_tokens"],
            row["cache_read_tokens"],
            cache_write,
        ),
        "duplicate_of": None,
    }


def downgrade() -> None:
    raise NotImplementedError(
        "revision 0002 cannot be undone in place: restore the database from the "
        "backup taken before the upgrade"
    )
