"""Upstream mappings and the egress guard."""

from __future__ import annotations

import pytest

from spendtap.capture.routing import is_loopback, parse_upstream
from spendtap.errors import ConfigError


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.9.9.9", "::1", "[::1]", "localhost"]
)
def test_loopback_addresses_are_trusted(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host",
    ["localhost.", "ip6-localhost", "localhost.localdomain", "10.0.0.1", "example.com"],
)
def test_names_that_could_resolve_elsewhere_are_not(host: str) -> None:
    assert not is_loopback(host)


def test_an_upstream_mapping_must_point_at_loopback() -> None:
    assert parse_upstream("API.anthropic.com=127.0.0.1:9443") == (
        "api.anthropic.com",
        ("127.0.0.1", 9443),
    )
    with pytest.raises(ConfigError, match="not a loopback address"):
        parse_upstream("api.anthropic.com=10.1.2.3:443")
    with pytest.raises(ConfigError, match="HOST=ADDR:PORT"):
        parse_upstream("api.anthropic.com:443")
