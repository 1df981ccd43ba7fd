from __future__ import annotations

import logging
import random
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from spendtap.delivery.answers import retry_after
from spendtap.delivery.shipper import (
    ShipOutcome,
    Shipper,
    events_url,
)
from spendtap.delivery.spool import Spool
from spendtap.errors import ConfigError
from tests.support.fake_engine import FakeEngine, Reply


class Script:
    """Replies in order; the last one repeats."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)

    def __call__(self, events: list[dict[str, Any]]) -> Reply:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


def event(n: int, **extra: object) -> dict[str, Any]:
    return {"event_id": f"ev-{n:04d}", "provider": "openai", "input_tokens": n, **extra}


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    s = Spool(tmp_path / "spool.sqlite3")
    yield s
    s.close()


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    with FakeEngine() as e:
        yield e


def shipper_for(spool: Spool, engine: FakeEngine, **kwargs: Any) -> Shipper:
    kwargs.setdefault("rng", random.Random(7))
    return Shipper(spool, engine.url, kwargs.pop("token", "dev-token-1"), **kwargs)


def test_batch_is_gzip_json_with_bearer_token(spool: Spool, engine: FakeEngine) -> None:
    sent = [event(1), event(2, cost_usd=0.5)]
    spool.put_many(sent)
    shipper = shipper_for(spool, engine)

    result = shipper.ship_once()
    shipper.stop(0)

    assert result.outcome is ShipOutcome.SHIPPED
    assert result.shipped == 2 and result.accepted == 2
    (post,) = engine.posts
    assert post.path == "/v1/events"
    assert post.events == sent
    assert post.headers["content-encoding"] == "gzip"
    assert post.headers["content-type"] == "application/json"
    assert post.headers["authorization"] == "Bearer dev-token-1"
    assert spool.depth() == 0


def test_no_token_sends_no_authorization(spool: Spool, engine: FakeEngine) -> None:
    spool.put(event(1))
    shipper = shipper_for(spool, engine, token=None)

    shipper.ship_once()
    shipper.stop(0)

    assert "authorization" not in engine.posts[0].headers


def test_engine_url_path_prefix_is_kept(spool: Spool, engine: FakeEngine) -> None:
    spool.put(event(1))
    shipper = Shipper(spool, engine.url + "/spendtap/", None)

    shipper.ship_once()
    shipper.stop(0)

    assert engine.posts[0].path == "/spendtap/v1/events"


def test_nothing_queued_is_idle_and_posts_nothing(
    spool: Spool, engine: FakeEngine
) -> None:
    shipper = shipper_for(spool, engine)

    assert shipper.ship_once().outcome is ShipOutcome.IDLE
    shipper.stop(0)
    assert engine.posts == []


def test_events_stay_queued_until_the_engine_answers_200(
    spool: Spool, engine: FakeEngine
) -> None:
    engine.responder = Script(Reply(503), Reply(200))
    spool.put_many([event(1), event(2)])
    shipper = shipper_for(spool, engine)

    failed = shipper.ship_once()
    depth_after_failure = spool.depth()
    shipped = shipper.ship_once()
    shipper.stop(0)

    assert failed.outcome is ShipOutcome.RETRY
    assert depth_after_failure == 2
    assert shipped.outcome is ShipOutcome.SHIPPED
    assert spool.depth() == 0
    assert engine.stored_ids() == ["ev-0001", "ev-0002"]


def test_acknowledged_events_are_never_sent_again(
    spool: Spool, engine: FakeEngine
) -> None:
    shipper = shipper_for(spool, engine, batch_size=3)
    spool.put_many(event(n) for n in range(5))

    while shipper.ship_once().outcome is ShipOutcome.SHIPPED:
        pass
    spool.put_many(event(n) for n in range(5, 8))
    while shipper.ship_once().outcome is ShipOutcome.SHIPPED:
        pass
    shipper.stop(0)

    ids = [i for p in engine.posts for i in p.ids]
    assert ids == [f"ev-{n:04d}" for n in range(8)]
    assert [len(p.events) for p in engine.posts] == [3, 2, 3]


def test_backoff_is_full_jitter_doubling_up_to_the_cap(
    spool: Spool, engine: FakeEngine
) -> None:
    engine.responder = Script(Reply(503))
    spool.put(event(1))
    shipper = shipper_for(spool, engine, max_backoff=3.0, rng=random.Random(1))

    delays = [shipper.ship_once().retry_in for _ in range(8)]
    shipper.stop(0)

    ceilings = [0.5, 1.0, 2.0, 3.0, 3.0, 3.0, 3.0, 3.0]  # 0.5 s doubling, cap 3 s
    assert all(
        d is not None and 0 <= d <= c for d, c in zip(delays, ceilings, strict=True)
    )
    assert len(set(delays)) == len(delays)  # jittered, not fixed steps
    assert shipper.stats().failures == 8


def test_running_shipper_backs_off_on_503_then_delivers(
    spool: Spool, engine: FakeEngine
) -> None:
    engine.responder = Script(Reply(503), Reply(503), Reply(200))
    spool.put_many([event(1), event(2)])
    shipper = shipper_for(spool, engine, max_backoff=0.05, interval=0.02)

    shipper.start()
    deadline = time.monotonic() + 5
    while spool.depth() and time.monotonic() < deadline:
        time.sleep(0.01)
    shipper.stop(1)

    assert [p.status for p in engine.posts] == [503, 503, 200]
    assert engine.stored_ids() == ["ev-0001", "ev-0002"]
    stats = shipper.stats()
    assert (stats.shipped, stats.batches, stats.failures) == (2, 1, 2)
    assert stats.last_success_at is not None
    assert "503" in (stats.last_error or "")


def test_retry_after_sets_the_wait(spool: Spool, engine: FakeEngine) -> None:
    engine.responder = Script(Reply(429, {"Retry-After": "7"}))
    spool.put(event(1))
    shipper = shipper_for(spool, engine, max_backoff=0.01)

    result = shipper.ship_once()
    shipper.stop(0)

    assert result.outcome is ShipOutcome.RETRY
    assert result.retry_in == 7.0  # not the 0.01 s backoff cap


def test_running_shipper_waits_retry_after_before_the_next_post(
    spool: Spool, engine: FakeEngine
) -> None:
    engine.responder = Script(Reply(429, {"Retry-After": "0.3"}), Reply(200))
    spool.put(event(1))
    shipper = shipper_for(spool, engine, interval=0.01, max_backoff=0.01)

    shipper.start()
    deadline = time.monotonic() + 5
    while spool.depth() and time.monotonic() < deadline:
        time.sleep(0.01)
    shipper.stop(1)

    refused, stored = engine.posts
    assert (refused.status, stored.status) == (429, 200)
    assert 0.3 <= stored.at - refused.at < 1.0


def test_retry_after_http_date_form() -> None:
    when = datetime.now(UTC) + timedelta(seconds=20)
    response = httpx.Response(503, headers={"Retry-After": format_datetime(when)})

    seconds = retry_after(response)

    assert seconds is not None and 18 <= seconds <= 20
    assert retry_after(httpx.Response(503, headers={"Retry-After": "soon"})) is None
    assert retry_after(httpx.Response(503)) is None


def test_413_splits_the_batch_in_halves(spool: Spool, engine: FakeEngine) -> None:
    engine.responder = lambda events: Reply(413 if len(events) > 2 else 200)
    spool.put_many(event(n) for n in range(7))
    shipper = shipper_for(spool, engine)

    result = shipper.ship_once()
    shipper.stop(0)

    assert result.outcome is ShipOutcome.SHIPPED and result.shipped == 7
    # 7 -> 3 + 4 -> (1 + 2) + (2 + 2)
    assert [len(p.events) for p in engine.posts] == [7, 3, 1, 2, 4, 2, 2]
    assert sorted(engine.stored_ids()) == [f"ev-{n:04d}" for n in range(7)]
    assert spool.depth() == 0


def test_413_for_a_single_event_moves_it_to_dead(
    spool: Spool, engine: FakeEngine
) -> None:
    engine.responder = lambda events: Reply(
        413 if any("huge" in e for e in events) else 200
    )
    spool.put_many([event(1), event(2, huge="x" * 100), event(3)])
    shipper = shipper_for(spool, engine)

    result = shipper.ship_once()
    shipper.stop(0)

    assert result.dead == 1 and result.shipped == 2
    ((dead, reason),) = spool.dead()
    assert dead.event_id == "ev-0002" and "413" in reason


def test_422_moves_the_refused_events_to_dead_and_ships_the_rest(
    spool: Spool, engine: FakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    error = {"error": {"code": "invalid_event", "message": "input_tokens < 0"}}
    engine.responder = lambda events: (
        Reply(422, body=error)
        if any(e["input_tokens"] < 0 for e in events)
        else Reply()
    )
    spool.put_many([event(1), event(2), event(-3), event(4)])
    shipper = shipper_for(spool, engine)

    with caplog.at_level(logging.ERROR, logger="spendtap.delivery.shipper"):
        result = shipper.ship_once()

    assert result.outcome is ShipOutcome.SHIPPED
    assert (result.shipped, result.dead) == (3, 1)
    assert sorted(engine.stored_ids()) == ["ev-0001", "ev-0002", "ev-0004"]
    ((dead, reason),) = spool.dead()
    assert dead.event == event(-3)
    assert "422" in reason and "input_tokens < 0" in reason
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("input_tokens < 0" in m for m in logged)
    assert shipper.stats().dead == 1
    # the queue is not blocked: later events still ship
    spool.put(event(5))
    assert shipper.ship_once().shipped == 1
    shipper.stop(0)
    assert spool.depth() == 0


def test_422_for_everything_dead_letters_all_without_losing_any(
    spool: Spool, engine: FakeEngine
) -> None:
    engine.responder = lambda events: Reply(422, body={"error": "schema"})
    spool.put_many(event(n) for n in range(4))
    shipper = shipper_for(spool, engine)

    result = shipper.ship_once()
    shipper.stop(0)

    assert result.dead == 4
    assert spool.depth() == 0 and spool.dead_count() == 4
    assert spool.drops() == 0


def test_auth_failure_keeps_events_and_waits_the_backoff_cap(
    spool: Spool, engine: FakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    engine.responder = Script(Reply(401, body={"error": "bad token"}))
    spool.put(event(1))
    shipper = shipper_for(spool, engine, max_backoff=12.0)

    with caplog.at_level(logging.WARNING, logger="spendtap.delivery.shipper"):
        result = shipper.ship_once()
    shipper.stop(0)

    assert result.outcome is ShipOutcome.RETRY and result.retry_in == 12.0
    assert spool.depth() == 1 and spool.dead_count() == 0
    assert any(r.levelno == logging.ERROR for r in caplog.records)
    assert not any("dev-token-1" in r.getMessage() for r in caplog.records)


def test_unreachable_engine_is_retried_and_loses_nothing(spool: Spool) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spool.put(event(1))
    shipper = Shipper(spool, f"http://127.0.0.1:{port}", None, rng=random.Random(3))

    result = shipper.ship_once()
    shipper.stop(0)

    assert result.outcome is ShipOutcome.RETRY
    assert result.retry_in is not None and 0 <= result.retry_in <= 0.5
    assert spool.depth() == 1
    assert "ConnectError" in (shipper.stats().last_error or "")


def test_running_shipper_ships_new_events_within_a_second(
    spool: Spool, engine: FakeEngine
) -> None:
    shipper = shipper_for(spool, engine)  # default interval
    shipper.start()
    time.sleep(0.1)

    spool.put(event(1))
    put_at = time.monotonic()
    deadline = put_at + 3
    while not engine.posts and time.monotonic() < deadline:
        time.sleep(0.01)
    shipper.stop(1)

    assert engine.posts and engine.posts[0].at - put_at < 1.0


def test_stop_flushes_what_is_queued(spool: Spool, engine: FakeEngine) -> None:
    shipper = shipper_for(spool, engine, interval=60, batch_size=10)
    shipper.start()
    time.sleep(0.05)  # the loop is now waiting its (long) interval
    spool.put_many(event(n) for n in range(25))

    shipper.stop(flush_timeout=3)

    assert spool.depth() == 0
    assert len(engine.stored_ids()) == 25


def test_stop_gives_up_at_the_deadline_when_the_engine_is_down(
    spool: Spool, engine: FakeEngine
) -> None:
    engine.responder = Script(Reply(503, {"Retry-After": "10"}))
    spool.put(event(1))
    shipper = shipper_for(spool, engine, interval=0.01)
    shipper.start()
    time.sleep(0.05)

    started = time.monotonic()
    shipper.stop(flush_timeout=0.3)

    assert time.monotonic() - started < 2
    assert spool.depth() == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://engine.example.com",
        "http://10.0.0.5:8080",
        "ftp://127.0.0.1",
        "engine.example.com",
        "https://user:secret@engine.example.com",
    ],
)
def test_refused_engine_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        events_url(url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://engine.example.com", "https://engine.example.com/v1/events"),
        (
            "https://engine.example.com/base/",
            "https://engine.example.com/base/v1/events",
        ),
        ("http://127.0.0.1:8700", "http://127.0.0.1:8700/v1/events"),
        ("http://127.9.9.9:8700", "http://127.9.9.9:8700/v1/events"),
        ("http://localhost:8700", "http://localhost:8700/v1/events"),
        ("http://[::1]:8700", "http://[::1]:8700/v1/events"),
    ],
)
def test_accepted_engine_urls(url: str, expected: str) -> None:
    assert events_url(url) == expected


def test_plain_http_refusal_says_what_to_do(spool: Spool) -> None:
    with pytest.raises(ConfigError, match=r"https://.*only allowed to 127\.0\.0\.1"):
        Shipper(spool, "http://engine.example.com", "t")
