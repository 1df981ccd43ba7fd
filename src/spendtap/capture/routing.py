"""Upstream routing for tests and demos, and the egress guard that goes with it.

``--upstream api.anthropic.com=127.0.0.1:9443`` sends that host's connections to a
local simulator, keeping the original Host header and SNI. Once any mapping is given,
the collector connects to nothing but mapped hosts and loopback addresses.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from mitmproxy.proxy import server_hooks

from spendtap.errors import ConfigError

log = logging.getLogger(__name__)

#: The one loopback name trusted without resolving it; it is rewritten to 127.0.0.1 so
#: no lookup can turn it into another address. Other names (``localhost.``,
#: ``ip6-localhost``) may go to DNS, so the guard refuses them.
LOOPBACK_NAME = "localhost"


def is_loopback(host: str) -> bool:
    if host.lower() == LOOPBACK_NAME:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_upstream(spec: str) -> tuple[str, tuple[str, int]]:
    """Parse ``HOST=ADDR:PORT``; the target must be a loopback address."""
    host, sep, target = spec.partition("=")
    addr, colon, port_text = target.rpartition(":")
    if not (sep and colon and host and addr and port_text.isdigit()):
        raise ConfigError(
            f"--upstream {spec!r} is not HOST=ADDR:PORT; "
            "write it like api.anthropic.com=127.0.0.1:9443"
        )
    if not is_loopback(addr):
        raise ConfigError(
            f"--upstream {spec!r} points at {addr}, which is not a loopback address; "
            "upstream mappings are for local simulators only (use 127.0.0.1)"
        )
    return host.lower(), (addr.strip("[]"), int(port_text))


@dataclass(frozen=True, slots=True)
class UpstreamMap:
    routes: Mapping[str, tuple[str, int]] = field(default_factory=dict)

    @classmethod
    def from_specs(cls, specs: Iterable[str]) -> UpstreamMap:
        return cls(dict(parse_upstream(s) for s in specs))

    @property
    def guarded(self) -> bool:
        """True when egress is limited to mapped hosts and loopback."""
        return bool(self.routes)


class UpstreamRouter:
    """mitmproxy addon: redirect mapped hosts; with a map, refuse all other egress."""

    def __init__(self, upstreams: UpstreamMap) -> None:
        self.upstreams = upstreams
        self.refused = 0

    def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        if not self.upstreams.guarded or data.server.address is None:
            return
        host, port = data.server.address[0], data.server.address[1]
        target = self.upstreams.routes.get(host.lower())
        if target is not None:
            data.server.address = target
        elif host.lower() == LOOPBACK_NAME:
            data.server.address = ("127.0.0.1", port)
        elif not is_loopback(host):
            self.refused += 1
            data.server.error = (
                f"spendtap refused a connection to {host}:{port}: with --upstream "
                "mappings only mapped hosts and loopback addresses are reachable"
            )
            log.warning("collector.egress.refused host=%s port=%s", host, port)
