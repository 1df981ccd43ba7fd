"""The pipeline spools calls in groups and turns every loss into a counted drop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spendtap.capture.addon import CapturedCall, CaptureFault
from spendtap.collector.pipeline import Pipeline
from spendtap.context.resolver import ContextResolver
from spendtap.delivery.drops import DropReason, DropTally
from spendtap.delivery.spool import Spool
from spendtap.event import Api, CallStatus, Usage, UsageSource
from spendtap.pricing import Pricer
from spendtap.providers.base import ParsedCall

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def captured(n: int) -> CapturedCall:
    return CapturedCall(
        flow_id=f"flow-{n}",
        host="api.anthropic.com",
        parsed=ParsedCall(
            provider="anthropic",
            api=Api.MESSAGES,
            streaming=False,
            status=CallStatus.OK,
            usage=Usage(input_tokens=10 + n, output_tokens=5),
            usage_source=UsageSource.PROVIDER,
            model_requested="claude-haiku-4-5",
            model="claude-haiku-4-5-20251001",
            response_id=f"msg_{n}",
        ),
        started_at=T0 + n,
        ended_at=T0 + n + 0.5,
        first_content_at=None,
        request_id=f"req_{n}",
        headers={"user-agent": "test/1"},
        query="",
        process=None,
    )


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    s = Spool(tmp_path / "spool.sqlite3")
    yield s
    s.close()


def pipeline_for(tmp_path: Path, spool: Spool, **kwargs: object) -> Pipeline:
    return Pipeline(
        ContextResolver(tmp_path / "data"),
        Pricer(),
        spool,
        **kwargs,  # type: ignore[arg-type]
    )


def wait_for(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_every_submitted_call_is_spooled_once_with_its_response_id(
    tmp_path: Path, spool: Spool
) -> None:
    pipeline = pipeline_for(tmp_path, spool)
    pipeline.start()
    for n in range(50):
        pipeline.submit(captured(n))
    pipeline.stop()

    events = [e.event for e in spool.take(100)]
    assert sorted(e["response_id"] for e in events) == sorted(
        f"msg_{n}" for n in range(50)
    )
    assert len({e["event_id"] for e in events}) == 50
    assert pipeline.counters.spooled == 50 and pipeline.counters.dropped == 0


def test_receipt_resolves_true_once_the_event_is_in_the_spool(
    tmp_path: Path, spool: Spool
) -> None:
    pipeline = pipeline_for(tmp_path, spool, receipts=True)
    pipeline.start()
    pipeline.submit(captured(1))
    receipt = pipeline.take_receipt("flow-1")
    assert receipt is not None

    assert receipt.result(timeout=5) is True
    assert spool.depth() == 1  # resolved only after the commit
    assert pipeline.take_receipt("flow-1") is None  # handed out once
    pipeline.stop()


def test_queue_full_drops_are_counted_and_become_one_drop_record(
    tmp_path: Path, spool: Spool, caplog: pytest.LogCaptureFixture
) -> None:
    gate = threading.Event()
    real_put_many = spool.put_many

    def blocked_put_many(events: object) -> int:
        gate.wait(10)
        return real_put_many(events)  # type: ignore[arg-type]

    spool.put_many = blocked_put_many  # type: ignore[method-assign]
    pipeline = pipeline_for(tmp_path, spool, queue_limit=3, receipts=True)
    pipeline.start()
    pipeline.submit(captured(0))  # taken by the worker, which then blocks
    wait_for(lambda: pipeline._queue.qsize() == 0)

    with caplog.at_level(logging.ERROR, logger="spendtap.collector.pipeline"):
        for n in range(1, 9):  # 3 fit in the queue, 5 do not
            pipeline.submit(captured(n))
    dropped_receipts = [pipeline.take_receipt(f"flow-{n}") for n in range(4, 9)]
    gate.set()
    pipeline.stop()

    assert pipeline.counters.dropped == 5
    assert all(r is not None and r.result(0) is False for r in dropped_receipts)
    assert spool.depth() == 4
    assert spool.dropped_by_reason() == {"queue_full": 5}
    (record,) = spool.unshipped_drops(10)
    assert record.reason is DropReason.QUEUE_FULL and record.count == 5
    assert record.first_at <= record.last_at
    lines = [r.getMessage() for r in caplog.records]
    assert sum("call.dropped reason=queue_full" in line for line in lines) == 1
    assert "collector.drops.recorded calls=5 reason=queue_full" in lines


def test_parse_faults_become_drop_records(tmp_path: Path, spool: Spool) -> None:
    pipeline = pipeline_for(tmp_path, spool)
    pipeline.start()
    for n in range(3):
        pipeline.fault(CaptureFault(f"flow-{n}", "api.openai.com", "/v1/x", "bad"))
    pipeline.stop()

    assert pipeline.counters.faults == 3
    assert spool.dropped_by_reason() == {"parse_failed": 3}


def test_a_failing_spool_drops_calls_then_records_them_when_it_recovers(
    tmp_path: Path, spool: Spool, caplog: pytest.LogCaptureFixture
) -> None:
    db = spool._db  # cap the file at its size to play a full disk
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count={pages}")
    pipeline = pipeline_for(tmp_path, spool, receipts=True)
    pipeline.start()

    with caplog.at_level(logging.ERROR, logger="spendtap.collector.pipeline"):
        for n in range(4):
            pipeline.submit(captured(n))
        receipts = [pipeline.take_receipt(f"flow-{n}") for n in range(4)]
        assert all(r is not None and r.result(5) is False for r in receipts)
    wait_for(lambda: pipeline.counters.dropped == 4)
    assert pipeline.spool_failing is not None
    unwritable = [r for r in caplog.records if "spool.unwritable" in r.getMessage()]
    assert len(unwritable) == 1  # rate-limited: one line, not one per call
    assert "disk holding it is full" in unwritable[0].getMessage()

    db.execute("PRAGMA max_page_count=1073741823")  # space is back
    pipeline.submit(captured(10))
    receipt = pipeline.take_receipt("flow-10")
    assert receipt is not None and receipt.result(5) is True
    pipeline.stop()

    assert pipeline.spool_failing is None
    assert [e.event["response_id"] for e in spool.take(10)] == ["msg_10"]
    assert spool.dropped_by_reason() == {"spool_unwritable": 4}


def test_drops_wait_in_memory_while_the_spool_refuses_them(
    tmp_path: Path, spool: Spool
) -> None:
    tally = DropTally()
    tally.add(DropReason.QUEUE_FULL, 2)
    failing = pipeline_for(tmp_path, spool, drops=tally)
    db = spool._db
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count={pages}")
    added = 2
    while tally.pending() == 0 and added < 1000:  # until the last free page is full
        tally.add(DropReason.PARSE_FAILED)
        added += 1
        failing._write_drop_records()
    assert tally.pending() > 0  # refused, and kept in memory rather than lost

    db.execute("PRAGMA max_page_count=1073741823")
    failing._write_drop_records()

    assert tally.pending() == 0
    assert sum(spool.dropped_by_reason().values()) == added
