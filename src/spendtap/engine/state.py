"""What the routes share: database, access gate, limits, metrics and configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import Request
from sqlalchemy import Engine

from spendtap.engine.access import AccessPolicy, Gate
from spendtap.engine.metrics import EngineMetrics

#: Largest batch body, before and after gzip; a shipper splits bigger batches.
MAX_BATCH_BYTES = 16 * 1024 * 1024
#: Most events in one batch.
MAX_BATCH_EVENTS = 5000


@dataclass(frozen=True, slots=True)
class IngestLimits:
    max_body_bytes: int = MAX_BATCH_BYTES
    max_events: int = MAX_BATCH_EVENTS


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """How an engine app runs, beyond its database URL."""

    access: AccessPolicy = field(default_factory=AccessPolicy)
    limits: IngestLimits = field(default_factory=IngestLimits)
    retain_events: timedelta | None = None
    """Remove raw events older than this (rollups are kept); None keeps them all."""
    retention_interval_s: float = 3600.0
    feed_poll_s: float = 0.5
    """How often a live feed looks for new events."""
    migrate: bool = True
    """Upgrade the schema on start; when False, refuse a database not at head."""


@dataclass(frozen=True, slots=True)
class EngineState:
    db: Engine
    gate: Gate
    metrics: EngineMetrics
    config: EngineConfig

    @property
    def limits(self) -> IngestLimits:
        return self.config.limits


def engine_state(request: Request) -> EngineState:
    state = request.app.state.spendtap
    assert isinstance(state, EngineState)
    return state
