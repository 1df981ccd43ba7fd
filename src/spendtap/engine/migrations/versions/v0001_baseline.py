"""Baseline: the schema the first engine created (events and hourly rollups).

Databases written before migrations existed already have these tables; the
migration then creates nothing and only records the revision.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TEXT_FIELDS = (
    "model_requested",
    "model",
    "region",
    "error_type",
    "price_ref",
    "ended_at",
    "request_id",
    "response_id",
    "user",
    "os_user",
    "device_id",
    "hostname",
    "agent",
    "agent_version",
    "process",
    "repo",
    "branch",
    "commit",
    "ticket",
    "session_id",
    "auth_kind",
    "credential_hint",
)
_TOKENS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "web_search_requests",
)
_DIMS = ("model", "provider", "agent", "user", "repo", "ticket")


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("events"):
        _create_events()
    if not inspector.has_table("rollup_hourly"):
        _create_rollup_hourly()


def _create_events() -> None:
    seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "events",
        sa.Column("seq", seq, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Text, nullable=False, unique=True),
        sa.Column("capture_source", sa.Text, nullable=False),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("api", sa.Text, nullable=False),
        sa.Column("streaming", sa.Boolean, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("http_status", sa.Integer),
        sa.Column("usage_source", sa.Text, nullable=False),
        sa.Column("cost_nanos", sa.BigInteger),
        sa.Column("cost_status", sa.Text, nullable=False),
        sa.Column("started_at", sa.Text, nullable=False),
        sa.Column("ttft_ms", sa.BigInteger),
        sa.Column("duration_ms", sa.BigInteger),
        sa.Column("pid", sa.BigInteger),
        sa.Column("received_at", sa.Text, nullable=False),
        *(sa.Column(name, sa.BigInteger) for name in _TOKENS),
        *(sa.Column(name, sa.Text) for name in _TEXT_FIELDS),
    )


def _create_rollup_hourly() -> None:
    op.create_table(
        "rollup_hourly",
        sa.Column("hour_start", sa.BigInteger, primary_key=True, autoincrement=False),
        *(sa.Column(d, sa.Text, primary_key=True, server_default="") for d in _DIMS),
        sa.Column("calls", sa.BigInteger, nullable=False),
        *(sa.Column(name, sa.BigInteger) for name in _TOKENS),
        sa.Column("cost_nanos", sa.BigInteger),
        sa.Column("unpriced_calls", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rollup_hourly")
    op.drop_table("events")
