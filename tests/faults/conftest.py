"""Fault-test fixtures: engine and collector processes, SDK load, a fleet module.

Every process binds 127.0.0.1. These tests take seconds each; the folder runs in
well under three minutes.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import anthropic
import pytest

from spendtap.simulator.certs import TestPKI
from spendtap.simulator.server import RunningSimulator, start_simulator
from tests.support.processes import EngineProcess, free_port
from tests.support.tls import trusting

FLEET_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks/delivery/fleet.py"
MODEL = "claude-haiku-4-5"


def load_fleet() -> ModuleType:
    """benchmarks/delivery/fleet.py as a module (the benchmark is also the test)."""
    spec = importlib.util.spec_from_file_location("delivery_fleet", FLEET_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def fleet() -> ModuleType:
    return load_fleet()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[EngineProcess]:
    process = EngineProcess(
        tmp_path / "engine.sqlite3", free_port(), tmp_path / "engine.log"
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture
def simulator(pki: TestPKI, tmp_path: Path) -> Iterator[RunningSimulator]:
    with start_simulator(pki, ledger=tmp_path / "ledger.jsonl") as sim:
        yield sim


def at_least(count: Callable[[], int], wanted: float) -> Callable[[], bool]:
    """A condition for :func:`wait_until`: ``count()`` has reached ``wanted``."""
    return lambda: count() >= wanted


def at_most(count: Callable[[], int], wanted: float) -> Callable[[], bool]:
    return lambda: count() <= wanted


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


class SdkLoad:
    """Threads making real anthropic SDK calls through a proxy, streamed or not.

    ``completed`` holds the message id of every call whose response the client got
    in full; failed calls (collector down, connection cut) are counted and retried
    as new calls after a short pause, as a tool would.
    """

    def __init__(
        self, proxy_url: str, ca_cert: Path, threads: int, *, streaming: bool = True
    ) -> None:
        self.proxy_url = proxy_url
        self.ca_cert = ca_cert
        self.streaming = streaming
        self.completed: list[str] = []
        self.failures = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True)
            for n in range(threads)
        ]

    def start(self) -> SdkLoad:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def count(self) -> int:
        with self._lock:
            return len(self.completed)

    def _client(self) -> anthropic.Anthropic:
        http = anthropic.DefaultHttpxClient(
            proxy=self.proxy_url, verify=trusting(self.ca_cert), timeout=20
        )
        return anthropic.Anthropic(
            api_key="sk-ant-fault-test", http_client=http, max_retries=0
        )

    def _run(self, worker: int) -> None:
        client = self._client()
        n = 0
        while not self._stop.is_set():
            n += 1
            prompt = f"worker {worker} call {n}"
            try:
                message_id = self._call(client, prompt)
            except Exception:  # any failure: collector down, stream cut, ...
                with self._lock:
                    self.failures += 1
                client.close()
                self._stop.wait(0.05)
                client = self._client()
                continue
            with self._lock:
                self.completed.append(message_id)
        client.close()

    def _call(self, client: anthropic.Anthropic, prompt: str) -> str:
        if self.streaming:
            with client.messages.stream(
                model=MODEL,
                max_tokens=40,
                messages=[{"role": "user", "content": prompt}],
            ) as stream:
                return stream.get_final_message().id
        message = client.messages.create(
            model=MODEL, max_tokens=40, messages=[{"role": "user", "content": prompt}]
        )
        return message.id
