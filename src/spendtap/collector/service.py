"""The collector as one object: proxy, pipeline, spool and shipper, started together."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from spendtap.capture.addon import CaptureAddon
from spendtap.capture.hosts import HostAllowList
from spendtap.capture.proxy import ProxySettings, ProxyThread
from spendtap.capture.routing import UpstreamMap, UpstreamRouter
from spendtap.collector.pipeline import Pipeline
from spendtap.context.resolver import ContextResolver
from spendtap.delivery.shipper import Shipper
from spendtap.delivery.spool import Spool
from spendtap.pricing import Pricer
from spendtap.providers.registry import default_registry

log = logging.getLogger(__name__)

SPOOL_FILE = "spool.sqlite3"


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    data_dir: Path
    listen_host: str = "127.0.0.1"
    listen_port: int = 8877
    engine_url: str | None = None
    engine_token: str | None = None
    upstreams: UpstreamMap = field(default_factory=UpstreamMap)
    upstream_ca: Path | None = None
    user: str | None = None
    ticket_patterns: Sequence[str] | None = None


class Collector:
    """Start with ``start()``; ``stop()`` flushes what it can and shuts down."""

    def __init__(self, config: CollectorConfig) -> None:
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.spool = Spool(config.data_dir / SPOOL_FILE)
        self.pipeline = Pipeline(
            ContextResolver(config.data_dir, config.user, config.ticket_patterns),
            Pricer(),
            self.spool,
        )
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="lookup")
        self._stopped = False
        self.router = UpstreamRouter(config.upstreams)
        self.addon = CaptureAddon(
            default_registry(),
            HostAllowList(),
            self._executor,
            on_call=self.pipeline.submit,
            on_fault=self.pipeline.fault,
        )
        self.proxy = ProxyThread(
            ProxySettings(
                listen_host=config.listen_host,
                listen_port=config.listen_port,
                data_dir=config.data_dir,
                allow_hosts=HostAllowList().mitmproxy_patterns(),
                upstream_ca=config.upstream_ca,
            ),
            [self.router, self.addon],
        )
        self.shipper = (
            Shipper(self.spool, config.engine_url, config.engine_token)
            if config.engine_url
            else None
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
        self.pipeline.stop()
        if self.shipper is not None:
            self.shipper.stop(flush_timeout=5.0)
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.spool.close()
        log.info("collector.stopped spooled=%d", self.pipeline.counters.spooled)
