"""mitmproxy 12, embedded in our process, on a thread with its own event loop."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mitmproxy import addons, options
from mitmproxy.master import Master

from spendtap.collector.trust import replace_file
from spendtap.errors import ConfigError

log = logging.getLogger(__name__)

CA_FILE_NAME = "ca-cert.pem"
MITMPROXY_CA_FILE = "mitmproxy-ca-cert.pem"
START_TIMEOUT_S = 15.0
#: Idle time after which mitmproxy closes a connection (its default is 600 s). Long
#: thinking turns can leave a stream silent for minutes; the upstream decides when a
#: stream is dead, not us (case T05).
IDLE_TIMEOUT_S = 3600


@dataclass(frozen=True, slots=True)
class ProxySettings:
    listen_host: str
    listen_port: int
    data_dir: Path
    allow_hosts: Sequence[str]
    upstream_ca: Path | None = None


class ProxyThread:
    """Runs a mitmproxy ``Master`` with our addons until ``stop()``."""

    def __init__(self, settings: ProxySettings, extra_addons: Sequence[Any]) -> None:
        self.settings = settings
        self.extra_addons = list(extra_addons)
        self._thread: threading.Thread | None = None
        self._master: Master | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self.listen_port: int | None = None

    @property
    def confdir(self) -> Path:
        return self.settings.data_dir / "mitmproxy"

    @property
    def ca_cert(self) -> Path:
        return self.settings.data_dir / CA_FILE_NAME

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="proxy", daemon=True)
        self._thread.start()
        if not self._started.wait(START_TIMEOUT_S):
            raise ConfigError("the proxy did not start within 15 s; see the log above")
        if self._error is not None:
            raise self._translate(self._error)

    def stop(self) -> None:
        if self._master is not None and self._thread and self._thread.is_alive():
            closing = asyncio.run_coroutine_threadsafe(
                _close_connections(self._master), self._master.event_loop
            )
            try:
                closing.result(timeout=5)
            except Exception:  # best effort: shutting down anyway
                log.warning("collector.proxy.close_failed", exc_info=True)
            self._master.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._started.set()

    async def _main(self) -> None:
        self.confdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        opts = options.Options(
            listen_host=self.settings.listen_host,
            listen_port=self.settings.listen_port,
            confdir=str(self.confdir),
        )
        master = Master(opts)
        master.addons.add(*addons.default_addons())
        master.addons.add(*self.extra_addons)
        update: dict[str, Any] = {
            "allow_hosts": list(self.settings.allow_hosts),
            "tcp_timeout": IDLE_TIMEOUT_S,
        }
        if self.settings.upstream_ca is not None:
            update["ssl_verify_upstream_trusted_ca"] = str(self.settings.upstream_ca)
        opts.update(**update)
        self._master = master
        master.addons.add(_ReadyProbe(self))
        await master.run()
        if not self._started.is_set():  # run() returned before running: start failed
            self._error = self._error or ConfigError("the proxy stopped while starting")
            self._started.set()

    def _on_running(self) -> None:
        proxyserver = self._master.addons.get("proxyserver") if self._master else None
        addrs = proxyserver.listen_addrs() if proxyserver else []
        if not addrs:
            self._error = ConfigError(
                f"the proxy could not listen on {self.settings.listen_host}:"
                f"{self.settings.listen_port}; is the port in use? pick another with --listen"
            )
            self._master.shutdown() if self._master else None
        else:
            self.listen_port = addrs[0][1]
            replace_file(self.ca_cert, (self.confdir / MITMPROXY_CA_FILE).read_text())
        self._started.set()

    def _translate(self, exc: BaseException) -> BaseException:
        if isinstance(exc, OSError):
            return ConfigError(
                f"the proxy could not listen on {self.settings.listen_host}:"
                f"{self.settings.listen_port}: {exc.strerror}; pick another with --listen"
            )
        return exc


async def _close_connections(master: Master) -> None:
    """Close listeners and live sockets, which ``Master.shutdown`` leaves open."""
    proxyserver = master.addons.get("proxyserver")
    if proxyserver is not None:
        await proxyserver.servers.update([])
    for handler in list(getattr(proxyserver, "connections", {}).values()):
        for io in list(handler.transports.values()):
            if io.writer is not None:
                io.writer.close()
    await asyncio.sleep(0.05)


class _ReadyProbe:
    """Tells the starting thread once mitmproxy's servers are up."""

    def __init__(self, owner: ProxyThread) -> None:
        self.owner = owner

    def running(self) -> None:
        self.owner._on_running()
