"""Fixtures for the engine tests: a temp SQLite file, a client, and event factories."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from spendtap.engine.app import create_app

EventFactory = Callable[..., dict[str, Any]]
QueryDb = Callable[[str], list[tuple[Any, ...]]]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "engine-data" / "engine.sqlite3"


@pytest.fixture
def db_url(db_path: Path) -> str:
    return f"sqlite:///{db_path}"


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(db_url)) as test_client:
        yield test_client


@pytest.fixture
def query_db(db_path: Path) -> QueryDb:
    """Run SQL on the engine's file with the stdlib driver (not the engine's code)."""

    def query(sql: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(db_path)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    return query


@pytest.fixture
def make_event() -> EventFactory:
    """A valid usage event as JSON; keyword arguments replace fields."""
    numbers = itertools.count(1)

    def make(**fields: Any) -> dict[str, Any]:
        event: dict[str, Any] = {
            "event_id": f"evt-{next(numbers):05d}",
            "capture_source": "proxy",
            "provider": "anthropic",
            "api": "messages",
            "model_requested": "claude-haiku-4-5",
            "model": "claude-haiku-4-5-20251001",
            "region": None,
            "streaming": True,
            "status": "ok",
            "http_status": 200,
            "error_type": None,
            "input_tokens": 100,
            "cache_read_tokens": 2000,
            "cache_write_5m_tokens": 0,
            "cache_write_1h_tokens": None,
            "output_tokens": 50,
            "reasoning_tokens": None,
            "web_search_requests": None,
            "usage_source": "provider",
            "cost_usd": 0.0011,
            "cost_status": "priced",
            "price_ref": "genai-prices 0.2.3",
            "started_at": "2025-06-01T10:15:00.000Z",
            "ended_at": "2025-06-01T10:15:02.500Z",
            "ttft_ms": 300,
            "duration_ms": 2500,
            "request_id": "req_01",
            "response_id": "msg_01",
            "user": "ana@example.com",
            "os_user": "ana",
            "device_id": "dev-1",
            "hostname": "ana-laptop",
            "agent": "claude-code",
            "agent_version": "2.1.3",
            "process": "claude",
            "pid": 4242,
            "repo": "github.com/acme/payments",
            "branch": "PAY-12-refunds",
            "commit": "0123abcd",
            "ticket": "PAY-12",
            "session_id": "sess-1",
            "auth_kind": "api_key",
            "credential_hint": "h:1a2b3c",
        }
        event.update(fields)
        return event

    return make
