"""`spendtap report`: relative times, fetching from a live engine, and the table."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from spendtap.cli.report import fetch_report, render_table, resolve_since
from spendtap.engine.server import EngineServer
from spendtap.errors import ConfigError, EngineError
from spendtap.event import EVENT_FIELDS

TOKEN = "report-token"
NOW = datetime.now(UTC).replace(microsecond=0)


def event(n: int, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict.fromkeys(EVENT_FIELDS)
    base.update(
        event_id=f"cli-{n}",
        capture_source="proxy",
        provider="anthropic",
        api="messages",
        model="claude-haiku-4-5-20251001",
        streaming=False,
        status="ok",
        input_tokens=1000,
        cache_read_tokens=None,
        cache_write_5m_tokens=200,
        output_tokens=300,
        usage_source="provider",
        cost_usd=0.1,
        cost_status="priced",
        started_at=(NOW - timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
    )
    base.update(fields)
    return base


@pytest.fixture(scope="module")
def engine_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db: Path = tmp_path_factory.mktemp("engine") / "engine.sqlite3"
    server = EngineServer(f"sqlite:///{db}", "127.0.0.1", 0, ingest_token=TOKEN)
    server.start_in_thread()
    old = (NOW - timedelta(days=30)).isoformat().replace("+00:00", "Z")
    events = [
        event(1),
        event(2),
        event(
            3, model="gpt-5", provider="openai", cost_usd=None, cost_status="unpriced"
        ),
        event(4, started_at=old, input_tokens=5),
    ]
    response = httpx.post(
        server.url + "/v1/events",
        json={"events": events},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    answer = response.json()
    assert (answer["accepted"], answer["duplicates"]) == (4, 0)
    yield server.url
    server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        ("7d", "2025-05-25T12:30:00.000Z"),
        ("24h", "2025-05-31T12:30:00.000Z"),
        ("30m", "2025-06-01T12:00:00.000Z"),
        ("2025-05-01T00:00:00+02:00", "2025-04-30T22:00:00.000Z"),
        ("2025-05-01T08:00:00.25Z", "2025-05-01T08:00:00.250Z"),
    ],
)
def test_since_becomes_an_absolute_utc_time(since: str, expected: str) -> None:
    now = datetime(2025, 6, 1, 12, 30, tzinfo=UTC)

    assert resolve_since(since, now) == expected


@pytest.mark.parametrize("since", ["7x", "last week", "2025-05-01", "-3d"])
def test_bad_since_is_a_config_error_that_shows_the_forms(since: str) -> None:
    with pytest.raises(ConfigError, match="7d, 24h, 30m"):
        resolve_since(since)


def test_fetch_report_returns_the_engine_rows_in_the_window(engine_url: str) -> None:
    report = fetch_report(engine_url, ["model", "provider"], "7d", TOKEN)

    assert set(report) == {"rows", "totals"}
    rows = {(r["model"], r["provider"]): r for r in report["rows"]}
    haiku = rows[("claude-haiku-4-5-20251001", "anthropic")]
    assert (haiku["calls"], haiku["input_tokens"], haiku["cost_usd"]) == (2, 2000, 0.2)
    assert rows[("gpt-5", "openai")]["cost_usd"] is None
    assert report["totals"]["calls"] == 3  # the 30-day-old call is outside 7d
    assert report["totals"]["unpriced_calls"] == 1


def test_fetch_report_over_a_longer_window_includes_older_calls(
    engine_url: str,
) -> None:
    report = fetch_report(engine_url + "/", ["model"], "31d", TOKEN)

    assert report["totals"]["calls"] == 4
    assert report["totals"]["input_tokens"] == 3005


def test_wrong_token_is_an_engine_error_with_the_engine_reason(engine_url: str) -> None:
    with pytest.raises(EngineError, match=r"HTTP 401.*bearer token"):
        fetch_report(engine_url, ["model"], "7d", "nope")


def test_unknown_dimension_is_an_engine_error_naming_the_allowed_ones(
    engine_url: str,
) -> None:
    with pytest.raises(EngineError, match="model, provider, agent, user, repo, ticket"):
        fetch_report(engine_url, ["team"], "7d", TOKEN)


def test_unreachable_engine_says_which_url_and_how_to_start_it() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(EngineError) as caught:
        fetch_report(url, ["model"], "7d", None)

    message = str(caught.value)
    assert url in message
    assert "spendtap serve" in message
    assert "spendtap up" in message


def test_engine_url_that_is_not_http_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--engine"):
        fetch_report("ftp://127.0.0.1:1", ["model"], "7d", None)


REPORT: dict[str, Any] = {
    "rows": [
        {
            "model": "claude-sonnet-4-5",
            "provider": "anthropic",
            "calls": 12,
            "input_tokens": 3400,
            "cache_read_tokens": 10000,
            "cache_write_5m_tokens": 500,
            "cache_write_1h_tokens": 20,
            "output_tokens": 1200,
            "reasoning_tokens": None,
            "cost_usd": 1234.56789,
            "unpriced_calls": 0,
        },
        {
            "model": "gpt-5",
            "provider": "openai",
            "calls": 3,
            "input_tokens": 120,
            "cache_read_tokens": None,
            "cache_write_5m_tokens": None,
            "cache_write_1h_tokens": None,
            "output_tokens": 300,
            "reasoning_tokens": 100,
            "cost_usd": 0.00004,
            "unpriced_calls": 1,
        },
        {
            "model": None,
            "provider": "openai",
            "calls": 1,
            "input_tokens": 5,
            "cache_read_tokens": None,
            "cache_write_5m_tokens": None,
            "cache_write_1h_tokens": None,
            "output_tokens": 7,
            "reasoning_tokens": None,
            "cost_usd": None,
            "unpriced_calls": 1,
        },
    ],
    "totals": {
        "calls": 16,
        "input_tokens": 3525,
        "cache_read_tokens": 10000,
        "cache_write_5m_tokens": 500,
        "cache_write_1h_tokens": 20,
        "output_tokens": 1507,
        "reasoning_tokens": 100,
        "cost_usd": 1234.56793,
        "unpriced_calls": 2,
    },
}


def test_table_aligns_columns_and_ends_with_totals() -> None:
    expected = "\n".join(
        [
            "model              provider   calls  input  cache read  cache write"
            "  output  reasoning                     cost",
            "claude-sonnet-4-5  anthropic     12  3,400      10,000          520"
            "   1,200          -              $1,234.5679",
            "gpt-5              openai         3    120           -            -"
            "     300        100     <$0.0001 +1 unpriced",
            "(none)             openai         1      5           -            -"
            "       7          -                 unpriced",
            "-" * 111,
            "total                            16  3,525      10,000          520"
            "   1,507        100  $1,234.5679 +2 unpriced",
        ]
    )

    assert render_table(REPORT, ["model", "provider"]) == expected


def test_table_of_an_empty_window_says_so() -> None:
    empty = {"rows": [], "totals": {"calls": 0}}

    message = render_table(empty, ["model"])
    assert message.startswith("No calls in this window.")
    assert "--since 90d" in message  # imported history is often older


def test_long_dimension_values_are_cut_to_keep_the_table_readable() -> None:
    row = dict(REPORT["rows"][0], repo="github.com/acme/" + "x" * 60)
    table = render_table({"rows": [row], "totals": REPORT["totals"]}, ["repo"])

    first_cell = table.splitlines()[1].split("  ")[0]
    assert len(first_cell) == 40
    assert first_cell.endswith("\u2026")
