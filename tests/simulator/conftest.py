"""Fixtures: one test PKI per session, one simulator per test module with a ledger."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest

from spendtap.simulator import (
    LedgerEntry,
    RunningSimulator,
    TestPKI,
    make_test_pki,
    read_ledger,
    start_simulator,
)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return make_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def ledger_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ledger") / "ledger.jsonl"


@pytest.fixture(scope="module")
def sim(pki: TestPKI, ledger_path: Path) -> Iterator[RunningSimulator]:
    with start_simulator(pki, ledger=ledger_path) as running:
        yield running


@pytest.fixture
def claude(sim: RunningSimulator, pki: TestPKI) -> Iterator[anthropic.Anthropic]:
    http = anthropic.DefaultHttpxClient(verify=trusting(pki.ca_cert))
    with anthropic.Anthropic(
        base_url=sim.url, api_key="sk-ant-test", http_client=http, max_retries=0
    ) as client:
        yield client


@pytest.fixture
def gpt(sim: RunningSimulator, pki: TestPKI) -> Iterator[openai.OpenAI]:
    http = openai.DefaultHttpxClient(verify=trusting(pki.ca_cert))
    with openai.OpenAI(
        base_url=f"{sim.url}/v1", api_key="sk-test", http_client=http, max_retries=0
    ) as client:
        yield client


def trusting(ca_cert: Path | str) -> ssl.SSLContext:
    """A client TLS context that trusts the simulator's CA (and nothing else)."""
    return ssl.create_default_context(cafile=str(ca_cert))


def ledger_entry(path: Path, response_id: str) -> LedgerEntry:
    """The one ledger line of a response."""
    found = [e for e in read_ledger(path) if e.response_id == response_id]
    assert len(found) == 1, f"expected one ledger line for {response_id}: {found}"
    return found[0]


def last_entry(path: Path) -> LedgerEntry:
    entries = read_ledger(path)
    assert entries, "the ledger is empty"
    return entries[-1]
