"""The engine's tables (SQLAlchemy Core), portable between SQLite and PostgreSQL.

``events`` is append-only: one row per usage event, ``event_id`` unique, cost as integer
nano-USD. ``rollup_hourly`` holds the sums per UTC hour and dimension values; it is
kept current in the same transaction that inserts the events, so reports never scan
``events``. A missing dimension value is keyed as ``''`` in the rollup (SQL unique keys
treat NULLs as distinct, which would split one group into many rows).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Integer,
    MetaData,
    Table,
    Text,
)

from spendtap.engine.rollup import DIMENSIONS, MEASURES, NULLABLE_MEASURES

metadata = MetaData()

#: SQLite makes only ``INTEGER PRIMARY KEY`` an auto-incrementing row id.
_SEQ = BigInteger().with_variant(Integer(), "sqlite")


def _text(name: str, nullable: bool = True) -> Column[str]:
    return Column(name, Text, nullable=nullable)


def _count(name: str) -> Column[int]:
    return Column(name, BigInteger, nullable=True)


events = Table(
    "events",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("event_id", Text, nullable=False, unique=True),
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
    _text("received_at", nullable=False),
)

rollup_hourly = Table(
    "rollup_hourly",
    metadata,
    Column("hour_start", BigInteger, primary_key=True, autoincrement=False),
    *(Column(d.value, Text, primary_key=True, server_default="") for d in DIMENSIONS),
    *(
        Column(name, BigInteger, nullable=name in NULLABLE_MEASURES)
        for name in MEASURES
    ),
)

ROLLUP_KEY_COLUMNS: tuple[str, ...] = ("hour_start", *(d.value for d in DIMENSIONS))
