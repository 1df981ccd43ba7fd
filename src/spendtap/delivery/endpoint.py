"""Where the engine is and how to reach it safely: URL rules and TLS verification.

Every request spendtap makes to an engine (shipping, enrollment, device admin) goes
through :class:`EngineEndpoint`:

- ``https://`` is verified, against the public roots or, with ``ca_bundle``, against
  that PEM file alone (a company CA);
- plain ``http://`` is refused unless the host is loopback (127.0.0.0/8, ::1,
  localhost), since it would carry usage data and tokens in clear;
- the URL carries no credentials; tokens travel as bearer headers.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from spendtap import __version__
from spendtap.errors import ConfigError

USER_AGENT = f"spendtap/{__version__}"


@dataclass(frozen=True, slots=True)
class EngineEndpoint:
    """An engine's base URL (validated, no trailing slash) and the CA to trust."""

    base_url: str
    ca_bundle: Path | None = None

    @classmethod
    def parse(cls, url: str, ca_bundle: Path | None = None) -> EngineEndpoint:
        """Validate ``url``; ConfigError says what is wrong and what to give instead."""
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        if parts.scheme not in ("http", "https") or not host:
            raise ConfigError(
                f"engine URL {url!r} is not an http(s) URL; give one such as "
                "https://spendtap.example.com"
            )
        if parts.username or parts.password:
            raise ConfigError(
                "engine URL must not carry credentials; give the token separately"
            )
        if parts.scheme == "http" and not is_loopback(host):
            raise ConfigError(
                f"engine URL {url!r} uses plain http to {host}, which would send "
                "usage data and tokens unencrypted; use https:// (plain http is "
                "only allowed to 127.0.0.1, ::1 or localhost)"
            )
        if ca_bundle is not None and not ca_bundle.is_file():
            raise ConfigError(
                f"--ca-bundle {ca_bundle} does not exist or is not a file; give the "
                "PEM file of the CA that signed the engine's certificate"
            )
        base = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
        return cls(base, ca_bundle)

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    def url(self, path: str) -> str:
        """The absolute URL of an API path such as ``/v1/events``."""
        return self.base_url + path

    def same_engine(self, other: EngineEndpoint) -> bool:
        """Whether both name the same scheme, host and port (paths aside)."""
        a, b = urlsplit(self.base_url), urlsplit(other.base_url)
        return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)

    def client(
        self, token: str | None, *, timeout: float, extra_headers: dict[str, str]
    ) -> httpx.Client:
        """An HTTP client for this engine: TLS verified, bearer ``token`` if given.

        Proxy variables are ignored for loopback engines, so a collector's own
        ``HTTPS_PROXY`` never loops its shipping back through itself.
        """
        headers = {"User-Agent": USER_AGENT, **extra_headers}
        if token is not None:
            headers["Authorization"] = f"Bearer {check_token(token)}"
        return httpx.Client(
            headers=headers,
            timeout=timeout,
            verify=self.tls_context(),
            trust_env=not is_loopback(self.host),
        )

    def tls_context(self) -> ssl.SSLContext:
        """Certificate and host name checks on; the CA bundle alone when given."""
        if self.ca_bundle is None:
            return ssl.create_default_context(cafile=_default_cafile())
        try:
            return ssl.create_default_context(cafile=str(self.ca_bundle))
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                f"--ca-bundle {self.ca_bundle}: cannot read PEM certificates from it "
                f"({exc}); give the PEM file of the CA that signed the engine's "
                "certificate"
            ) from exc


def check_token(token: str) -> str:
    """``token`` if it can be sent as a bearer token, else ConfigError."""
    if not token or any(c.isspace() for c in token):
        raise ConfigError(
            "the token is empty or contains whitespace; give the token exactly as "
            "the engine issued it"
        )
    return token


def is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _default_cafile() -> str:
    import certifi

    return certifi.where()
