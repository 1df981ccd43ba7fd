"""Two `spendtap serve` processes on one database behave as one engine."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import EventFactory, QueryDb

COLLECTORS = 6
EVENTS_EACH = 150
BATCH = 25


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_replica(db_url: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "spendtap.cli.main",
        "serve",
        "--listen",
        f"127.0.0.1:{port}",
        "--db",
        db_url,
    ]
    env = {**os.environ, "SPENDTAP_DATA_DIR": str(data_dir)}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    return process, f"http://127.0.0.1:{port}"


def wait_healthy(process: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"replica exited {process.returncode}: {process.stderr.read()!r}"  # type: ignore[union-attr]
            )
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"replica at {url} did not answer within 30 s")


@pytest.fixture
def replicas(db_url: str, tmp_path: Path) -> Iterator[list[str]]:
    started = [start_replica(db_url, tmp_path / f"r{i}") for i in range(2)]
    try:
        for process, url in started:
            wait_healthy(process, url)
        yield [url for _, url in started]
    finally:
        for process, _ in started:
            process.send_signal(signal.SIGTERM)
        for process, _ in started:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            if process.stderr is not None:
                process.stderr.close()


def test_two_replicas_under_concurrent_ingest_keep_exact_totals(
    replicas: list[str], make_event: EventFactory, query_db: QueryDb
) -> None:
    events = [
        make_event(
            event_id=f"c{c}-{i}",
            user=f"user-{c}",
            model=["m-a", "m-b", "m-c"][i % 3],
            started_at=f"2025-06-0{1 + i % 3}T1{i % 10}:0{c}:00.000Z",
            input_tokens=c * 1000 + i,
            cost_usd=(c * 1000 + i) / 10**6,
        )
        for c in range(COLLECTORS)
        for i in range(EVENTS_EACH)
    ]
    errors: list[BaseException] = []
    start = threading.Barrier(COLLECTORS)

    def collector(c: int) -> None:
        mine = events[c * EVENTS_EACH : (c + 1) * EVENTS_EACH]
        try:
            with httpx.Client(timeout=30) as http:
                start.wait()
                for first in range(0, len(mine), BATCH):
                    batch = {"events": mine[first : first + BATCH]}
                    # The same batch reaches both replicas at once, as when a
                    # collector retries on another replica after a lost answer.
                    with ThreadPoolExecutor(2) as pool:
                        answers = [
                            future.result()
                            for future in [
                                pool.submit(http.post, url + "/v1/events", json=batch)
                                for url in replicas
                            ]
                        ]
                    for response in answers:
                        assert response.status_code == 200, response.text
                    assert sum(r.json()["accepted"] for r in answers) == len(
                        batch["events"]
                    )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=collector, args=(c,)) for c in range(COLLECTORS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert errors == []
    expected_input = sum(e["input_tokens"] for e in events)
    expected_cost = sum(
        c * 1000 + i for c in range(COLLECTORS) for i in range(EVENTS_EACH)
    )
    for url in replicas:
        report = httpx.get(url + "/v1/report", params={"by": "user"}, timeout=10).json()
        assert report["totals"]["calls"] == len(events)
        assert report["totals"]["input_tokens"] == expected_input
        assert round(report["totals"]["cost_usd"] * 10**6) == expected_cost
        assert {r["user"]: r["calls"] for r in report["rows"]} == {
            f"user-{c}": EVENTS_EACH for c in range(COLLECTORS)
        }
    assert query_db("SELECT COUNT(*), MIN(seq), MAX(seq) FROM events") == [
        (len(events), 1, len(events))
    ]
    assert query_db("SELECT SUM(calls) FROM rollup_minute") == [(len(events),)]
    assert query_db("SELECT SUM(calls) FROM rollup_core_daily") == [(len(events),)]


def test_events_stored_through_one_replica_are_read_through_the_other(
    replicas: list[str], make_event: EventFactory
) -> None:
    first, second = replicas
    sent: list[dict[str, Any]] = [make_event(event_id=f"x{i}") for i in range(5)]
    httpx.post(first + "/v1/events", json={"events": sent[:3]}, timeout=10)
    httpx.post(second + "/v1/events", json={"events": sent[3:]}, timeout=10)

    seen = [
        httpx.get(url + "/v1/events", params={"after": 0}, timeout=10).json()
        for url in replicas
    ]

    assert seen[0] == seen[1]
    assert [e["event_id"] for e in seen[0]["events"]] == [f"x{i}" for i in range(5)]
