"""Shipper: clock header, drop records, state file, TLS, and no re-sends under faults."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from spendtap.delivery.drops import DropReason, DropRecord
from spendtap.delivery.shipper import ShipOutcome, Shipper
from spendtap.delivery.spool import Spool
from spendtap.delivery.state import read_state
from spendtap.simulator.certs import TestPKI
from tests.support.fake_engine import FakeEngine, Reply


def event(n: int) -> dict[str, Any]:
    return {"event_id": f"ev-{n:05d}", "provider": "openai", "input_tokens": n}


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    s = Spool(tmp_path / "spool.sqlite3")
    yield s
    s.close()


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    with FakeEngine() as e:
        yield e


def test_each_post_says_when_it_was_sent(spool: Spool, engine: FakeEngine) -> None:
    spool.put(event(1))
    shipper = Shipper(spool, engine.url, None)
    before = datetime.now(UTC)

    shipper.ship_once()
    shipper.stop(0)

    sent_at = engine.posts[0].headers["x-spendtap-sent-at"]
    assert sent_at.endswith("Z") and len(sent_at) == len("2026-01-01T00:00:00.000Z")
    parsed = datetime.fromisoformat(sent_at.replace("Z", "+00:00"))
    assert abs((parsed - before).total_seconds()) < 5


def test_drop_records_are_shipped_once_with_the_device_id(
    spool: Spool, engine: FakeEngine
) -> None:
    spool.record_drops([DropRecord("d-1", DropReason.QUEUE_FULL, 3, 1e9, 1e9 + 2)])
    shipper = Shipper(spool, engine.url, "tok", device_id="dev-7")

    first = shipper.ship_drops_once()
    second = shipper.ship_drops_once()
    shipper.stop(0)

    assert first.outcome is ShipOutcome.SHIPPED and second.outcome is ShipOutcome.IDLE
    (post,) = engine.drop_posts
    assert post.path == "/v1/drops"
    assert post.headers["authorization"] == "Bearer tok"
    assert "x-spendtap-sent-at" in post.headers
    assert post.events == [
        {
            "drop_id": "d-1",
            "device_id": "dev-7",
            "count": 3,
            "reason": "queue_full",
            "first_at": "2001-09-09T01:46:40.000Z",
            "last_at": "2001-09-09T01:46:42.000Z",
        }
    ]
    assert spool.unshipped_drop_count() == 0
    assert spool.dropped_by_reason() == {"queue_full": 3}


def test_an_engine_without_the_drops_route_keeps_the_records(
    spool: Spool, engine: FakeEngine
) -> None:
    engine.drops_responder = lambda drops: Reply(404, body={"detail": "Not Found"})
    spool.record_drops([DropRecord("d-1", DropReason.PARSE_FAILED, 1, 1.0, 1.0)])
    shipper = Shipper(spool, engine.url, None)

    result = shipper.ship_drops_once()
    shipper.stop(0)

    assert result.outcome is ShipOutcome.RETRY and result.retry_in == 300
    assert spool.unshipped_drop_count() == 1


def test_running_shipper_ships_events_and_drop_records(
    spool: Spool, engine: FakeEngine
) -> None:
    shipper = Shipper(spool, engine.url, None, interval=0.02)
    shipper.start()
    spool.put_many(event(n) for n in range(3))
    spool.record_drops([DropRecord("d-1", DropReason.QUEUE_FULL, 2, 1.0, 2.0)])

    deadline = time.monotonic() + 5
    while (
        spool.depth() or spool.unshipped_drop_count()
    ) and time.monotonic() < deadline:
        time.sleep(0.02)
    shipper.stop(1)

    assert sorted(engine.stored_ids()) == [f"ev-{n:05d}" for n in range(3)]
    assert [d["drop_id"] for d in engine.stored_drops()] == ["d-1"]


def test_state_file_tracks_success_failure_and_stop(
    tmp_path: Path, spool: Spool, engine: FakeEngine
) -> None:
    state_path = tmp_path / "shipper-state.json"
    replies = iter([Reply(503, body={"error": {"code": "x", "message": "busy"}})])
    engine.responder = lambda events: next(replies, Reply())
    shipper = Shipper(spool, engine.url, "secret-token", state_path=state_path)
    shipper.start()
    spool.put_many(event(n) for n in range(4))

    deadline = time.monotonic() + 5
    while spool.depth() and time.monotonic() < deadline:
        time.sleep(0.02)
    shipper.stop(1)

    state = read_state(state_path)
    assert state is not None and not state.running
    assert state.shipped_events == 4 and state.batches == 1
    assert state.failures == 1 and state.consecutive_failures == 0
    assert state.last_error is not None and "HTTP 503" in state.last_error
    assert state.last_success_at is not None
    assert state.engine_url == engine.url
    assert "secret-token" not in state_path.read_text()
    assert state_path.stat().st_mode & 0o777 == 0o600


def test_a_revoked_device_keeps_its_events_and_is_told_to_enroll_again(
    spool: Spool,
) -> None:
    with FakeEngine(admin_token="admin") as engine:
        code = engine.issue()
        engine._enroll({"code": code, "hostname": "h", "os_user": "u"})
        device = next(iter(engine.devices.values()))
        device.revoked = True
        spool.put(event(1))
        shipper = Shipper(spool, engine.url, device.token, max_backoff=7)

        result = shipper.ship_once()
        shipper.stop(0)

    assert result.outcome is ShipOutcome.RETRY and result.retry_in == 7
    assert spool.depth() == 1 and spool.dead_count() == 0
    error = shipper.stats().last_error or ""
    assert "device_revoked" in error and "spendtap enroll" in error


def test_tls_engine_is_verified_against_the_given_ca_bundle(
    spool: Spool, pki: TestPKI
) -> None:
    with FakeEngine(tls=(pki.leaf_cert, pki.leaf_key)) as engine:
        spool.put(event(1))
        untrusting = Shipper(spool, engine.url, None)
        refused = untrusting.ship_once()
        untrusting.stop(0)
        trusting = Shipper(spool, engine.url, None, ca_bundle=pki.ca_cert)
        shipped = trusting.ship_once()
        trusting.stop(0)

    assert engine.url.startswith("https://")
    assert refused.outcome is ShipOutcome.RETRY
    assert "CERTIFICATE_VERIFY_FAILED" in (untrusting.stats().last_error or "")
    assert shipped.outcome is ShipOutcome.SHIPPED
    assert engine.stored_ids() == ["ev-00001"]


def test_under_random_faults_nothing_is_lost_and_no_acknowledged_batch_is_resent(
    spool: Spool, engine: FakeEngine
) -> None:
    rng = random.Random(11)
    lock = threading.Lock()

    def chaos(events: list[dict[str, Any]]) -> Reply:
        with lock:
            roll = rng.random()
        if roll < 0.15:
            return Reply(503)
        if roll < 0.25:
            return Reply(429, headers={"Retry-After": "0"})
        if roll < 0.40:  # stored, but the answer comes after the shipper gave up
            return Reply(200, delay=0.4)
        return Reply()

    engine.responder = chaos
    shipper = Shipper(
        spool,
        engine.url,
        None,
        interval=0.01,
        batch_size=7,
        max_backoff=0.05,
        timeout=0.25,
    )
    shipper.start()
    total = 200
    for n in range(total):  # a writer racing the shipper
        spool.put(event(n))
        if n % 50 == 0:
            time.sleep(0.01)
    deadline = time.monotonic() + 30
    while spool.depth() and time.monotonic() < deadline:
        time.sleep(0.02)
    shipper.stop(2)

    assert spool.depth() == 0
    acknowledged: dict[str, int] = {}  # id -> index of the post that acked it
    for index, post in enumerate(engine.posts):
        for event_id in post.ids:
            assert event_id not in acknowledged, f"{event_id} sent again after its ack"
        if post.status == 200 and post.delay == 0:
            acknowledged.update((i, index) for i in post.ids)
    assert sorted(acknowledged) == [f"ev-{n:05d}" for n in range(total)]
    lost = [p for p in engine.posts if p.delay > 0]
    assert lost and any(p.status in (429, 503) for p in engine.posts)  # faults ran
