"""OTLP request bodies recorded from the real Claude Code CLI (and shaped like Codex's)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from spendtap.agentlogs.context import AgentHomes, LogContext
from spendtap.delivery.spool import Spool
from spendtap.otlp import OtlpReceiver

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "otlp"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    spool = Spool.in_dir(tmp_path / "data")
    yield spool
    spool.close()


@pytest.fixture
def context(tmp_path: Path) -> LogContext:
    home = tmp_path / "home"
    home.mkdir()
    return LogContext(tmp_path / "data", homes=AgentHomes(home=home))


@pytest.fixture
def receiver(spool: Spool, context: LogContext) -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver(spool, context)
    receiver.start()
    yield receiver
    receiver.stop()
