"""The allow-list of AI provider hosts: the only TLS connections we decrypt.

Everything else is passed through untouched (TLS not terminated). The web chat hosts
(claude.ai, chatgpt.com) are decrypted whole, but only their conversation endpoints
are routed to a parser (``providers.web_chat``); every other request on them is
relayed and not recorded, and no text of any of them is kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

#: Provider API hosts named exactly.
AI_HOSTS: frozenset[str] = frozenset(
    {
        "api.anthropic.com",
        "api.openai.com",
        "generativelanguage.googleapis.com",
        "aiplatform.googleapis.com",
        "openrouter.ai",
        "api.mistral.ai",
        "api.groq.com",
        "api.deepseek.com",
        "api.x.ai",
        "api.together.xyz",
        "api.fireworks.ai",
        # Web chat: only the conversation endpoints are recorded (see above).
        "claude.ai",
        "chatgpt.com",
    }
)

#: Patterns for hosts that carry a region or a tenant in their name.
AI_HOST_PATTERNS: tuple[str, ...] = (
    r"[a-z0-9-]+-aiplatform\.googleapis\.com",  # Vertex regional endpoints
    r"bedrock-runtime(-fips)?\.[a-z0-9-]+\.amazonaws\.com",
    r"bedrock-runtime\.[a-z0-9-]+\.api\.aws",
    r"[a-z0-9-]+\.openai\.azure\.com",
    r"[a-z0-9-]+\.services\.ai\.azure\.com",
    r"[a-z0-9-]+\.cognitiveservices\.azure\.com",
)


@dataclass(frozen=True, slots=True)
class HostAllowList:
    """Decides which host names are AI provider hosts."""

    exact: frozenset[str] = AI_HOSTS
    patterns: tuple[str, ...] = AI_HOST_PATTERNS
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        compiled = re.compile("|".join(f"(?:{p})" for p in self.patterns) or r"(?!)")
        object.__setattr__(self, "_compiled", compiled)

    def contains(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        return name in self.exact or bool(self._compiled.fullmatch(name))

    def with_extra(self, hosts: Iterable[str]) -> HostAllowList:
        return HostAllowList(self.exact | {h.lower() for h in hosts}, self.patterns)

    def mitmproxy_patterns(self) -> list[str]:
        """Anchored `allow_hosts` patterns: mitmproxy matches `host:port` strings."""
        names = [re.escape(h) for h in sorted(self.exact)] + list(self.patterns)
        # A fully qualified name may end in a dot (``api.anthropic.com.``).
        return [rf"^{name}\.?:\d+$" for name in names]
