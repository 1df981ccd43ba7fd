"""The allow-list of hosts the collector decrypts."""

from __future__ import annotations

import re

import pytest

from spendtap.capture.hosts import HostAllowList


@pytest.mark.parametrize(
    "host",
    [
        "claude.ai",
        "chatgpt.com",
        "CHATGPT.com.",
        "openrouter.ai",
        "api.deepseek.com",
        "contoso.openai.azure.com",
        "proj.services.ai.azure.com",
        "contoso.cognitiveservices.azure.com",
    ],
)
def test_ai_hosts_are_decrypted(host: str) -> None:
    assert HostAllowList().contains(host)


@pytest.mark.parametrize(
    "host",
    ["claude.ai.example.com", "evilclaude.ai", "www.chatgpt.com.evil", "anthropic.com"],
)
def test_look_alike_hosts_are_not(host: str) -> None:
    assert not HostAllowList().contains(host)


def test_mitmproxy_patterns_match_web_chat_hosts_only_whole() -> None:
    patterns = [re.compile(p) for p in HostAllowList().mitmproxy_patterns()]

    def allowed(target: str) -> bool:
        return any(p.search(target) for p in patterns)

    assert allowed("claude.ai:443") and allowed("chatgpt.com:443")
    assert not allowed("notclaude.ai:443") and not allowed("chatgpt.com.evil:443")


def test_a_fully_qualified_name_with_a_trailing_dot_is_decrypted_too() -> None:
    patterns = [re.compile(p) for p in HostAllowList().mitmproxy_patterns()]

    assert any(p.search("api.anthropic.com.:443") for p in patterns)
    assert not any(p.search("api.anthropic.com.evil.test:443") for p in patterns)
