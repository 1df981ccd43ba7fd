"""Fixtures shared across the test tree: test PKI, an in-process collector."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from spendtap.capture.routing import UpstreamMap
from spendtap.collector.service import Collector, CollectorConfig
from spendtap.simulator.certs import TestPKI, make_test_pki

PROVIDER_HOSTS = [
    "api.anthropic.com",
    "api.openai.com",
    "bedrock-runtime.us-east-1.amazonaws.com",
    "localhost",
    "127.0.0.1",
]
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return make_test_pki(tmp_path_factory.mktemp("pki"), PROVIDER_HOSTS)


CollectorFactory = Callable[..., Collector]


@pytest.fixture
def make_collector(tmp_path: Path, pki: TestPKI) -> Iterator[CollectorFactory]:
    """Start collectors on free ports; each is stopped at the end of the test."""
    started: list[Collector] = []

    def factory(
        routes: dict[str, int], engine_url: str | None = None, **kw: object
    ) -> Collector:
        collector = Collector(
            CollectorConfig(
                data_dir=tmp_path / f"collector{len(started)}",
                listen_port=0,
                engine_url=engine_url,
                upstreams=UpstreamMap({h: ("127.0.0.1", p) for h, p in routes.items()}),
                upstream_ca=pki.ca_cert,
                **kw,  # type: ignore[arg-type]
            )
        )
        collector.start()
        started.append(collector)
        return collector

    yield factory
    for collector in started:
        collector.stop()
