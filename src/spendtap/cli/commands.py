"""What each sub-command does; argument parsing lives in main.py."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from spendtap.cli.paths import default_data_dir, default_db_url
from spendtap.errors import ConfigError

#: API tokens for ``serve`` when no --api-token is given (NAME:ROLE:TOKEN,...).
API_TOKENS_ENV = "SPENDTAP_API_TOKENS"

# The collector pulls in mitmproxy (~0.6 s to import): only commands that run it pay.
# So does the engine client (httpx): commands import what they use when they run.
if TYPE_CHECKING:
    from spendtap.collector.service import Collector, CollectorConfig
    from spendtap.delivery.credentials import EngineTarget
    from spendtap.engine.state import EngineConfig


def parse_listen(text: str, flag: str = "--listen") -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or int(port) > 65535:
        raise ConfigError(
            f"{flag} {text!r} is not HOST:PORT; write it like 127.0.0.1:8877"
        )
    return host.strip("[]") or "127.0.0.1", int(port)


def _data_dir(args: argparse.Namespace) -> Path:
    data_dir: Path = args.data_dir or default_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return data_dir


def _collector_config(
    args: argparse.Namespace, listen: str, target: EngineTarget
) -> CollectorConfig:
    from spendtap.capture.routing import UpstreamMap, is_loopback
    from spendtap.collector.service import CollectorConfig

    host, port = parse_listen(listen)
    if not is_loopback(host) and not args.allow_remote_clients:
        raise ConfigError(
            f"--listen {listen} would let other machines use this proxy, which "
            "decrypts AI traffic and relays everything else with no login; listen on "
            "127.0.0.1, or pass --allow-remote-clients if that is really intended"
        )
    if args.upstream_ca is not None and not args.upstream_ca.is_file():
        raise ConfigError(
            f"--upstream-ca {args.upstream_ca} does not exist or is not a file"
        )
    metrics = args.metrics_listen
    return CollectorConfig(
        data_dir=_data_dir(args),
        listen_host=host,
        listen_port=port,
        engine_url=target.engine_url,
        engine_token=target.token,
        engine_ca_bundle=target.ca_bundle,
        upstreams=UpstreamMap.from_specs(args.upstream),
        upstream_ca=args.upstream_ca,
        user=args.user,
        ticket_patterns=args.ticket_patterns,
        metrics_listen=parse_listen(metrics, "--metrics-listen") if metrics else None,
        otlp_listen=(
            parse_listen(args.otlp_listen, "--otlp-listen")
            if args.otlp_listen
            else None
        ),
    )


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def client_environment(collector: Collector) -> dict[str, str]:
    """The variables a user sets so their tools send AI calls through the collector."""
    from spendtap.collector.trust import write_ca_bundle

    bundle = write_ca_bundle(collector.ca_cert, collector.config.data_dir)
    return {
        "HTTPS_PROXY": collector.proxy_url,
        "NODE_EXTRA_CA_CERTS": str(collector.ca_cert),
        "SSL_CERT_FILE": str(bundle),
        "REQUESTS_CA_BUNDLE": str(bundle),
        "CURL_CA_BUNDLE": str(bundle),
        "CODEX_CA_CERTIFICATE": str(collector.ca_cert),
    }


def collect(args: argparse.Namespace) -> int:
    from spendtap.collector.service import Collector
    from spendtap.collector.trust import write_ca_bundle
    from spendtap.delivery.credentials import resolve_target

    target = resolve_target(_data_dir(args), args.engine, args.token, args.ca_bundle)
    collector = Collector(_collector_config(args, args.listen, target))
    collector.start()
    try:
        bundle = write_ca_bundle(collector.ca_cert, collector.config.data_dir)
        print(
            f"collector listening on {collector.proxy_url}; CA at {collector.ca_cert}"
            f" (with the public roots, for SSL_CERT_FILE: {bundle})"
        )
        if collector.metrics is not None:
            print(f"metrics at {collector.metrics.url}")
        sys.stdout.flush()
        _wait_for_signal()
    finally:
        collector.stop()
    return 0


def serve(args: argparse.Namespace) -> int:
    from spendtap.engine.database import safe_url
    from spendtap.engine.server import EngineServer

    host, port = parse_listen(args.listen)
    db_url = args.db or default_db_url(_data_dir(args))
    config = _engine_config(args)
    server = EngineServer(db_url, host, port, ingest_token=args.token, config=config)
    print(
        f"engine: {server.url} on {safe_url(db_url)} (API spec at /openapi.json, dashboard at /)"
    )
    sys.stdout.flush()
    server.run()
    return 0


def _engine_config(args: argparse.Namespace) -> EngineConfig:
    from spendtap.engine.access import AccessPolicy, ApiToken
    from spendtap.engine.state import EngineConfig
    from spendtap.engine.timestamps import parse_duration

    specs = list(args.api_tokens)
    if not specs:
        env = os.environ.get(API_TOKENS_ENV, "")
        specs = [s.strip() for s in env.split(",") if s.strip()]
    retain = None
    if args.retain_events:
        try:
            retain = parse_duration(args.retain_events)
        except ValueError as exc:
            raise ConfigError(f"--retain-events: {exc}") from exc
    access = AccessPolicy(
        api_tokens=tuple(ApiToken.parse(s) for s in specs),
        enrollment=args.enrollment,
    )
    return EngineConfig(
        access=access, retain_events=retain, migrate=not args.no_migrate
    )


def up(args: argparse.Namespace) -> int:
    from spendtap.collector.service import Collector
    from spendtap.delivery.credentials import EngineTarget
    from spendtap.engine.server import EngineServer

    data_dir = _data_dir(args)
    host, port = parse_listen(args.engine_listen, "--engine-listen")
    # Check every collector option before anything starts.
    config = _collector_config(args, args.listen, EngineTarget(None))
    engine = EngineServer(default_db_url(data_dir), host, port)
    engine.start_in_thread()
    try:
        collector = Collector(dataclasses.replace(config, engine_url=engine.url))
        collector.start()
    except BaseException:
        engine.stop()
        raise
    try:
        print(f"engine:    {engine.url}  (dashboard at {engine.url}/)")
        print(f"collector: {collector.proxy_url}")
        if collector.metrics is not None:
            print(f"metrics:   {collector.metrics.url}")
        print("Send your tools through spendtap by setting, in their shell:")
        for name, value in client_environment(collector).items():
            print(f"  export {name}={value}")
        print(f"Then: spendtap report --engine {engine.url} --by model,agent,user")
        sys.stdout.flush()
        _wait_for_signal()
    finally:
        collector.stop()
        engine.stop()
    return 0


def demo(args: argparse.Namespace) -> int:
    from spendtap.demo.run import run_demo

    return run_demo(args.data_dir, with_claude=not args.no_claude)


def replay(args: argparse.Namespace) -> int:
    from spendtap.collector.replay import replay_har
    from spendtap.pricing import Pricer

    # The price sheet and imported price data of this laptop apply to replays too.
    pricer = Pricer(data_dir=args.data_dir or default_data_dir())
    for event in replay_har(args.har, pricer=pricer):
        sys.stdout.write(json.dumps(event.to_json(), separators=(",", ":")) + "\n")
    return 0


def report(args: argparse.Namespace) -> int:
    from spendtap.cli.report import fetch_report, render_table

    by = [d.strip() for d in args.by.split(",") if d.strip()]
    result = fetch_report(args.engine, by, args.since, args.token)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(render_table(result, by))
    return 0
