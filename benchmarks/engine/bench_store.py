"""Engine store benchmark: bulk ingest through the store layer, then report latency.

    .venv/bin/python benchmarks/engine/bench_store.py --store sqlite --events 10000000
    .venv/bin/python benchmarks/engine/bench_store.py --store postgresql --events 10000000

1. Generates usage events in bulk for 30 days before a fixed "now": 2,000 users (a
   few heavy, most light), 400 repos, 14 models from 5 providers, 8 agents; each
   person works on one repo and ticket for about three days at a time; 2% of calls
   are also reported by a second capture source (the agent's log).
2. Stores them with ``store_batch`` in batches, as ``POST /v1/events`` does (same
   transaction, ledger, de-duplication and rollups), and reports events/s.
3. Runs the report queries over the last 30 days through the ASGI app in process
   (HTTP routing, access check and JSON included) and reports p50/p95, next to a
   baseline that computes the first report by scanning the raw events.

PostgreSQL: a database ``spendtap_bench`` is created on 127.0.0.1:5432 (dropped first
if it exists, kept afterwards for inspection). SQLite: a file under --work-dir.
Results are printed as JSON (and a Markdown table with --markdown).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from spendtap.engine.app import create_app
from spendtap.engine.database import open_database
from spendtap.engine.migrate import upgrade_database
from spendtap.engine.rollup import NULLABLE_MEASURES
from spendtap.engine.store import store_batch
from spendtap.engine.timestamps import epoch_ms, format_rfc3339
from spendtap.event import (
    AuthKind,
    CallStatus,
    CaptureSource,
    CostStatus,
    UsageEvent,
    UsageSource,
)

NOW = datetime(2025, 7, 1, tzinfo=UTC)
DAYS = 30
PG_ADMIN_URL = "postgresql://{user}@127.0.0.1:5432/test"
BENCH_DB = "spendtap_bench"
MODELS = [
    ("anthropic", "claude-sonnet-4-5-20250929", 3, 15),
    ("anthropic", "claude-haiku-4-5-20251001", 1, 5),
    ("anthropic", "claude-opus-4-1-20250805", 15, 75),
    ("openai", "gpt-5", 1.25, 10),
    ("openai", "gpt-5-mini", 0.25, 2),
    ("openai", "gpt-4.1", 2, 8),
    ("openai", "o3", 2, 8),
    ("gcp.gemini", "gemini-2.5-pro", 1.25, 10),
    ("gcp.gemini", "gemini-2.5-flash", 0.3, 2.5),
    ("aws.bedrock", "claude-sonnet-4-20250514", 3, 15),
    ("aws.bedrock", "claude-3-5-haiku-20241022", 0.8, 4),
    ("azure.ai.openai", "gpt-4o", 2.5, 10),
    ("azure.ai.openai", "gpt-4o-mini", 0.15, 0.6),
    ("openai", "text-embedding-3-small", 0.02, 0),
]
AGENTS = [
    "claude-code",
    "cursor",
    "codex",
    "gemini-cli",
    "sdk-python",
    "claude-desktop",
    "browser",
    "cowork",
]
USERS = 2000
REPOS = 400
TICKETS_PER_REPO = 60
TWIN_SHARE = 0.02

log = logging.getLogger("bench")


@dataclass(frozen=True, slots=True)
class Person:
    user: str
    agent: str
    repos: tuple[str, ...]
    models: tuple[int, ...]


def people(rng: random.Random) -> list[Person]:
    out = []
    for n in range(USERS):
        repos = tuple(f"github.com/acme/r{rng.randrange(REPOS)}" for _ in range(3))
        models = tuple(rng.sample(range(len(MODELS)), 3))
        out.append(Person(f"u{n:04d}@acme.example", rng.choice(AGENTS), repos, models))
    return out


def generate(count: int, seed: int) -> Iterator[list[UsageEvent]]:
    """``count`` events in time order, in lists of 100,000."""
    rng = random.Random(seed)
    crew = people(rng)
    weights = [1 / (1 + i) ** 0.6 for i in range(USERS)]  # some use it much more
    start_ms = epoch_ms(NOW - timedelta(days=DAYS))
    span_ms = DAYS * 86_400_000
    made = 0
    chunk = 100_000
    while made < count:
        size = min(chunk, count - made)
        times = sorted(rng.randrange(span_ms) for _ in range(size))
        who = rng.choices(crew, weights, k=size)
        events = []
        for offset, (t, person) in enumerate(zip(times, who, strict=True)):
            number = made + offset
            events.append(_event(rng, number, start_ms + t, person))
            if rng.random() < TWIN_SHARE:
                events.append(_twin(events[-1]))
        yield events
        made += size


def _event(rng: random.Random, number: int, at_ms: int, person: Person) -> UsageEvent:
    provider, model, price_in, price_out = MODELS[rng.choice(person.models)]
    # A person works on one repo and ticket for about three days, then moves on;
    # now and then a call comes from elsewhere (another repo, no ticket).
    period = at_ms // (3 * 86_400_000)
    focus = zlib.crc32(f"{person.user}|{period}".encode())
    repo = person.repos[focus % 3] if rng.random() < 0.85 else rng.choice(person.repos)
    ticket_n = focus % TICKETS_PER_REPO if rng.random() < 0.85 else None
    ticket = (
        None if ticket_n is None else f"{repo.rsplit('/', 1)[1].upper()}-{ticket_n}"
    )
    tokens_in = rng.randrange(50, 8000)
    cached = rng.randrange(0, 60_000) if provider == "anthropic" else None
    tokens_out = rng.randrange(20, 3000)
    nanos = int(tokens_in * price_in * 1000 + tokens_out * price_out * 1000)
    unpriced = number % 97 == 0
    started = datetime.fromtimestamp(at_ms / 1000, UTC)
    return UsageEvent(
        event_id=f"ev-{number:09d}",
        capture_source=CaptureSource.PROXY,
        provider=provider,
        api="messages" if provider == "anthropic" else "chat_completions",
        model_requested=model,
        model=model,
        region=None,
        streaming=True,
        status=CallStatus.OK,
        http_status=200,
        error_type=None,
        input_tokens=tokens_in,
        cache_read_tokens=cached,
        cache_write_5m_tokens=0 if cached is not None else None,
        cache_write_1h_tokens=None,
        output_tokens=tokens_out,
        reasoning_tokens=None,
        web_search_requests=None,
        usage_source=UsageSource.PROVIDER,
        cost_usd=None if unpriced else Decimal(nanos).scaleb(-9),
        cost_status=CostStatus.UNPRICED if unpriced else CostStatus.PRICED,
        price_ref="genai-prices 0.2.3",
        started_at=format_rfc3339(started),
        ended_at=format_rfc3339(started + timedelta(milliseconds=tokens_out * 20)),
        ttft_ms=rng.randrange(200, 2000),
        duration_ms=tokens_out * 20,
        request_id=f"req_{number:012x}",
        response_id=f"msg_{number:012x}",
        user=person.user,
        os_user=person.user.split("@")[0],
        device_id=f"dev-{person.user[:5]}",
        hostname=f"{person.user[:5]}-laptop",
        agent=person.agent,
        agent_version="2.1.3",
        process="claude",
        pid=4242,
        repo=repo,
        branch=f"{ticket or 'main'}-work",
        commit="0123abcd",
        ticket=ticket,
        session_id=None,
        auth_kind=AuthKind.API_KEY,
        credential_hint="h:1a2b3c",
    )


def _twin(event: UsageEvent) -> UsageEvent:
    """The same call as read from the agent's log: stored once, linked, fills."""
    from dataclasses import replace

    return replace(
        event,
        event_id=event.event_id + "-log",
        capture_source=CaptureSource.CLAUDE_CODE_LOG,
        session_id="sess-" + event.event_id[-6:],
        agent_cost_usd=event.cost_usd,
    )


def prepare_database(store: str, work_dir: Path) -> str:
    if store == "sqlite":
        work_dir.mkdir(parents=True, exist_ok=True)
        path = work_dir / "bench.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    for user in ("postgres", "root"):
        try:
            admin = psycopg.connect(PG_ADMIN_URL.format(user=user), autocommit=True)
        except psycopg.OperationalError:
            continue
        with admin:
            admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {BENCH_DB}")
        return f"postgresql://{user}@127.0.0.1:5432/{BENCH_DB}"
    sys.exit("PostgreSQL at 127.0.0.1:5432 does not answer: run scripts/setup")


def ingest(engine: Engine, count: int, batch: int, seed: int) -> dict[str, Any]:
    stored = sent = 0
    store_s = 0.0
    started = time.perf_counter()
    received = NOW
    for events in generate(count, seed):
        for first in range(0, len(events), batch):
            part = events[first : first + batch]
            t0 = time.perf_counter()
            result = store_batch(engine, part, received)
            store_s += time.perf_counter() - t0
            stored += result.accepted
            sent += len(part)
        log.info(
            "bench.ingest.progress stored=%d sent=%d rate=%.0f/s",
            stored,
            sent,
            sent / (time.perf_counter() - started),
        )
    wall = time.perf_counter() - started
    return {
        "events_generated": sent,
        "events_stored": stored,
        "cross_source_duplicates": sent - stored,
        "batch": batch,
        "wall_s": round(wall, 1),
        "store_s": round(store_s, 1),
        "events_per_s_wall": round(sent / wall),
        "events_per_s_store": round(sent / store_s),
    }


SINCE = format_rfc3339(NOW - timedelta(days=DAYS))
UNTIL = format_rfc3339(NOW)
QUERIES: dict[str, tuple[str, dict[str, str]]] = {
    "report by model,provider": (
        "/v1/report",
        {"by": "model,provider", "since": SINCE},
    ),
    "report by user": ("/v1/report", {"by": "user", "since": SINCE}),
    "report by agent,user": ("/v1/report", {"by": "agent,user", "since": SINCE}),
    "report by repo": ("/v1/report", {"by": "repo", "since": SINCE}),
    # Not a report a person reads: every ticket of the month, as an export takes it.
    "export: every repo,ticket (~20k rows)": (
        "/v1/report",
        {"by": "repo,ticket", "since": SINCE},
    ),
    "report by ticket, top 50": (
        "/v1/report",
        {"by": "ticket", "since": SINCE, "limit": "50"},
    ),
    "spend by day x model": (
        "/v1/spend",
        {"by": "model", "bucket": "day", "since": SINCE, "until": UNTIL},
    ),
    "spend by hour x provider": (
        "/v1/spend",
        {"by": "provider", "bucket": "hour", "since": SINCE, "until": UNTIL},
    ),
    "spend by day x user (page of 1000)": (
        "/v1/spend",
        {"by": "user", "bucket": "day", "since": SINCE, "until": UNTIL},
    ),
    "movers by user, 7d": (
        "/v1/movers",
        {"by": "user", "window": "7d", "until": UNTIL},
    ),
}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def timed(call: Callable[[], object], runs: int) -> dict[str, float]:
    call()  # warm caches once, as a dashboard in use would be
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t0) * 1000)
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(percentile(samples, 0.95), 1),
        "runs": runs,
    }


def query_latency(db_url: str, runs: int) -> dict[str, dict[str, float]]:
    out = {}
    with TestClient(create_app(db_url)) as client:
        for name, (path, params) in QUERIES.items():

            def call(path: str = path, params: dict[str, str] = params) -> object:
                response = client.get(path, params=params)
                assert response.status_code == 200, response.text
                return response.content

            out[name] = timed(call, runs)
            log.info("bench.query name=%r %s", name, out[name])
    return out


def baseline(engine: Engine, runs: int) -> dict[str, float]:
    """The first report (by model, provider, 30 days) computed from raw events, as
    a tool without rollups would: one GROUP BY over the request log."""
    since_ms = epoch_ms(NOW - timedelta(days=DAYS))
    sums = ", ".join(f"SUM({m})" for m in NULLABLE_MEASURES)
    sql = (
        f"SELECT model, provider, COUNT(*), {sums}, "
        "SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END) "
        f"FROM events WHERE started_ms >= {since_ms} GROUP BY model, provider"
    )

    def call() -> object:
        with engine.connect() as conn:
            return conn.execute(text(sql)).all()

    return timed(call, runs)


def sizes(engine: Engine, db_url: str) -> dict[str, Any]:
    with engine.connect() as conn:
        counts = {
            table: conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
            for table in (
                "events",
                "event_index",
                "event_links",
                "rollup_minute",
                "rollup_hourly",
                "rollup_daily",
                "rollup_core_daily",
            )
        }
        if engine.dialect.name == "postgresql":
            size = conn.execute(text("SELECT pg_database_size(current_database())"))
            total = int(size.scalar_one())
        else:
            total = Path(db_url.removeprefix("sqlite:///")).stat().st_size
    return {"rows": counts, "database_mib": round(total / 2**20)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=["sqlite", "postgresql"], required=True)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=30, help="timed runs per query")
    parser.add_argument("--baseline-runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument(
        "--work-dir", type=Path, default=Path("/tmp/spendtap-bench"), help="SQLite"
    )
    parser.add_argument("--skip-ingest", action="store_true", help="reuse the data")
    parser.add_argument("--out", type=Path, help="also write the results here (JSON)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("spendtap").setLevel(logging.WARNING)

    if args.skip_ingest:
        db_url = (
            f"sqlite:///{args.work_dir / 'bench.sqlite3'}"
            if args.store == "sqlite"
            else f"postgresql://postgres@127.0.0.1:5432/{BENCH_DB}"
        )
    else:
        db_url = prepare_database(args.store, args.work_dir)
    engine = open_database(db_url)
    upgrade_database(engine)
    report: dict[str, Any] = {"store": args.store, "events_requested": args.events}
    if not args.skip_ingest:
        report["ingest"] = ingest(engine, args.events, args.batch, args.seed)
        if args.store == "postgresql":
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.execute(text("VACUUM ANALYZE"))
    report["size"] = sizes(engine, db_url)
    report["queries"] = query_latency(db_url, args.runs)
    report["baseline_raw_scan"] = baseline(engine, args.baseline_runs)
    engine.dispose()
    text_out = json.dumps(report, indent=2)
    print(text_out)
    if args.out is not None:
        args.out.write_text(text_out + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
