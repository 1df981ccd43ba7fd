"""What the collector adds to a call: latency per request and time to first event.

Runs the simulator on loopback and measures, in the same run, the same requests made
directly (the baseline) and through the collector:
- p50/p95 wall time of N non-streaming Anthropic calls over one keep-alive connection;
- for a slow stream (events 300 ms apart), how long before the upstream finished the
  client saw the first event, and the first event's delay against the direct path.

    .venv/bin/python benchmarks/collector/proxy_overhead.py [--calls 300]
"""

from __future__ import annotations

import argparse
import ssl
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from spendtap.capture.routing import UpstreamMap
from spendtap.collector.service import Collector, CollectorConfig
from spendtap.collector.trust import write_ca_bundle
from spendtap.simulator.certs import make_test_pki
from spendtap.simulator.server import start_simulator

BODY = {
    "model": "claude-haiku-4-5",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "benchmark"}],
}
HEADERS = {"x-api-key": "bench", "anthropic-version": "2023-06-01"}


def timed_calls(
    client: httpx.Client, url: str, n: int, headers: dict[str, str]
) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        client.post(url, json=BODY, headers=headers).raise_for_status()
        out.append((time.perf_counter() - start) * 1000)
    return out


def first_event(
    client: httpx.Client, url: str, headers: dict[str, str]
) -> tuple[float, float]:
    """(ms to first body bytes, ms to the end) of a slow stream."""
    start = time.perf_counter()
    first = None
    body = {**BODY, "stream": True}
    slow = {**headers, "x-sim-scenario": "slow", "x-sim-delay-ms": "300"}
    with client.stream("POST", url, json=body, headers=slow) as response:
        for _ in response.iter_raw():
            first = first or time.perf_counter()
    end = time.perf_counter()
    assert first is not None
    return (first - start) * 1000, (end - start) * 1000


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="spendtap-bench-"))
    pki = make_test_pki(root / "pki", ["api.anthropic.com", "127.0.0.1"])
    with start_simulator(pki) as sim:
        collector = Collector(
            CollectorConfig(
                data_dir=root / "collector",
                listen_port=0,
                upstream_ca=pki.ca_cert,
                upstreams=UpstreamMap({"api.anthropic.com": ("127.0.0.1", sim.port)}),
            )
        )
        collector.start()
        try:
            rss_idle = psutil.Process().memory_info().rss
            direct_ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
            bundle = write_ca_bundle(collector.ca_cert, collector.config.data_dir)
            proxy_ctx = ssl.create_default_context(cafile=str(bundle))
            direct_url = f"https://127.0.0.1:{sim.port}/v1/messages"
            proxied_url = "https://api.anthropic.com/v1/messages"
            host = {**HEADERS, "host": "api.anthropic.com"}
            with (
                httpx.Client(verify=direct_ctx) as d,
                httpx.Client(verify=proxy_ctx, proxy=collector.proxy_url) as p,
            ):
                (
                    timed_calls(d, direct_url, 20, host),
                    timed_calls(p, proxied_url, 20, HEADERS),
                )
                direct = timed_calls(d, direct_url, args.calls, host)
                proxied = timed_calls(p, proxied_url, args.calls, HEADERS)
                d_first, d_end = first_event(d, direct_url, host)
                p_first, p_end = first_event(p, proxied_url, HEADERS)
            rss_load = psutil.Process().memory_info().rss
        finally:
            collector.stop()

    print(f"non-streaming calls: {args.calls} each, one keep-alive connection")
    print("| path | p50 ms | p95 ms |")
    print("|---|---|---|")
    print(f"| direct (baseline) | {pct(direct, 50):.2f} | {pct(direct, 95):.2f} |")
    print(f"| through collector | {pct(proxied, 50):.2f} | {pct(proxied, 95):.2f} |")
    print(f"added p50: {pct(proxied, 50) - pct(direct, 50):.2f} ms")
    print()
    print("slow stream (events 300 ms apart):")
    print("| path | first bytes ms | end ms | first bytes before end ms |")
    print("|---|---|---|---|")
    print(
        f"| direct (baseline) | {d_first:.1f} | {d_end:.1f} | {d_end - d_first:.1f} |"
    )
    print(
        f"| through collector | {p_first:.1f} | {p_end:.1f} | {p_end - p_first:.1f} |"
    )
    print()
    print(
        f"RSS of the whole benchmark process (collector + simulator + client): "
        f"{rss_idle / 2**20:.0f} MiB after start, {rss_load / 2**20:.0f} MiB after the load"
    )


if __name__ == "__main__":
    main()
