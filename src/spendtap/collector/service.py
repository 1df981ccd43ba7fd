"""The collector as one object: proxy, pipeline, spool and shipper, started together.

One collector per data directory (a lock says so). Addons run in this order on each
flow: upstream routing, capture (parse), then the spool barrier, which holds the end
of an AI response until its event is durable (:mod:`spendtap.collector.durable`).
With ``metrics_listen`` set, Prometheus metrics are served there; with
``otlp_listen`` set, agents' OpenTelemetry (OTLP/HTTP) is received there
(:mod:`spendtap.otlp`) into the same spool.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spendtap.agentlogs.context import LogContext
from spendtap.capture.addon import CaptureAddon
from spendtap.capture.hosts import HostAllowList
from spendtap.capture.proxy import ProxySettings, ProxyThread
from spendtap.capture.routing import UpstreamMap, UpstreamRouter
from spendtap.collector.durable import DEFAULT_TIMEOUT_S, SpoolBarrier
from spendtap.collector.metrics import MetricSources, MetricsServer
from spendtap.collector.pipeline import Pipeline
from spendtap.context.resolver import ContextResolver
from spendtap.delivery.drops import DropTally
from spendtap.delivery.lockfile import DataDirLock
from spendtap.delivery.shipper import Shipper
from spendtap.delivery.spool import SPOOL_FILENAME, Spool, SpoolLimits
from spendtap.delivery.state import STATE_FILE
from spendtap.otlp import OtlpReceiver
from spendtap.pricing import Pricer
from spendtap.providers.bedrock_models import configure_inference_profiles
from spendtap.providers.registry import default_registry

log = logging.getLogger(__name__)

SPOOL_FILE = SPOOL_FILENAME


@dataclass(frozen=True, slots=True)
class ShipperSettings:
    """Shipper tuning; the defaults suit a laptop."""

    interval: float = 0.5
    batch_size: int = 500
    max_backoff: float = 30.0
    timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    data_dir: Path
    listen_host: str = "127.0.0.1"
    listen_port: int = 8877
    engine_url: str | None = None
    engine_token: str | None = field(default=None, repr=False)
    engine_ca_bundle: Path | None = None
    upstreams: UpstreamMap = field(default_factory=UpstreamMap)
    upstream_ca: Path | None = None
    user: str | None = None
    ticket_patterns: Sequence[str] | None = None
    metrics_listen: tuple[str, int] | None = None
    #: Where agents send OTLP/HTTP telemetry (``--otlp-listen``); None: not received.
    otlp_listen: tuple[str, int] | None = None
    #: Longest wait for an event to be spooled before a response ends (0: no wait).
    spool_barrier_s: float = DEFAULT_TIMEOUT_S
    spool_limits: SpoolLimits | None = None
    shipper: ShipperSettings = field(default_factory=ShipperSettings)


class Collector:
    """Start with ``start()``; ``stop()`` flushes what it can and shuts down."""

    def __init__(self, config: CollectorConfig) -> None:
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = DataDirLock(config.data_dir)
        self._lock.acquire()
        try:
            self._build(config)
        except BaseException:
            self._lock.release()
            raise
        self._stopped = False

    def _build(self, config: CollectorConfig) -> None:
        self.spool = Spool(config.data_dir / SPOOL_FILE, limits=config.spool_limits)
        resolver = ContextResolver(config.data_dir, config.user, config.ticket_patterns)
        self.drops = DropTally()
        pricer = Pricer(data_dir=config.data_dir)
        share_inference_profiles(pricer)
        self.pipeline = Pipeline(
            resolver,
            pricer,
            self.spool,
            drops=self.drops,
            receipts=config.spool_barrier_s > 0,
        )
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="lookup")
        self.router = UpstreamRouter(config.upstreams)
        self.addon = CaptureAddon(
            default_registry(),
            HostAllowList(),
            self._executor,
            on_call=self.pipeline.submit,
            on_fault=self.pipeline.fault,
        )
        self.barrier = SpoolBarrier(self.pipeline, config.spool_barrier_s)
        addons: list[Any] = [self.router, self.addon]
        if config.spool_barrier_s > 0:
            addons.append(self.barrier)
        self.proxy = ProxyThread(
            ProxySettings(
                listen_host=config.listen_host,
                listen_port=config.listen_port,
                data_dir=config.data_dir,
                allow_hosts=HostAllowList().mitmproxy_patterns(),
                upstream_ca=config.upstream_ca,
            ),
            addons,
        )
        self.shipper = self._shipper(config, resolver.device.device_id)
        self.metrics = (
            MetricsServer(
                *config.metrics_listen,
                MetricSources(
                    self.pipeline,
                    self.spool,
                    self.shipper,
                    lambda: self.barrier.timeouts,
                ),
            )
            if config.metrics_listen
            else None
        )
        self.otlp = self._otlp_receiver(config)

    def _otlp_receiver(self, config: CollectorConfig) -> OtlpReceiver | None:
        if config.otlp_listen is None:
            return None
        host, port = config.otlp_listen
        context = LogContext(
            config.data_dir, user=config.user, ticket_patterns=config.ticket_patterns
        )
        return OtlpReceiver(self.spool, context, host=host, port=port)

    def _shipper(self, config: CollectorConfig, device_id: str) -> Shipper | None:
        if not config.engine_url:
            return None
        tuning = config.shipper
        return Shipper(
            self.spool,
            config.engine_url,
            config.engine_token,
            interval=tuning.interval,
            batch_size=tuning.batch_size,
            max_backoff=tuning.max_backoff,
            timeout=tuning.timeout,
            ca_bundle=config.engine_ca_bundle,
            device_id=device_id,
            state_path=config.data_dir / STATE_FILE,
        )

    @property
    def ca_cert(self) -> Path:
        return self.proxy.ca_cert

    @property
    def proxy_url(self) -> str:
        return f"http://{self.config.listen_host}:{self.proxy.listen_port}"

    def start(self) -> None:
        self.pipeline.start()
        self.proxy.start()
        if self.shipper is not None:
            self.shipper.start()
        if self.metrics is not None:
            self.metrics.start()
        if self.otlp is not None:
            self.otlp.start()
        log.info(
            "collector.started proxy=%s engine=%s data_dir=%s",
            self.proxy_url,
            self.config.engine_url,
            self.config.data_dir,
        )

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.proxy.stop()
        if self.otlp is not None:
            self.otlp.stop()
        self.pipeline.stop()
        if self.shipper is not None:
            self.shipper.stop(flush_timeout=5.0)
        if self.metrics is not None:
            self.metrics.stop()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.spool.close()
        self._lock.release()
        log.info("collector.stopped spooled=%d", self.pipeline.counters.spooled)


def share_inference_profiles(pricer: Pricer) -> None:
    """Let the Bedrock parser name the model behind an application inference profile.

    The price sheet's ``[[alias]]`` entries are the one place a company maps its
    profile ARNs to models; the parser reads the same mapping, so the event's
    ``model`` and its price agree.
    """
    aliases = pricer.sheet.aliases if pricer.sheet is not None else ()
    configure_inference_profiles(
        {
            alias.name: alias.model
            for alias in aliases
            if alias.provider in (None, "aws.bedrock")
            and "inference-profile" in alias.name
        }
    )
