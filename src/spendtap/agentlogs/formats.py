"""The agent log formats ``spendtap import`` knows, by the name the command takes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from spendtap.agentlogs import claude_code, codex, gemini
from spendtap.agentlogs.context import AgentHomes
from spendtap.agentlogs.importer import LogFormat
from spendtap.agentlogs.stats import ImportStats


@dataclass(frozen=True, slots=True)
class FormatSpec:
    name: str
    make: Callable[[ImportStats, AgentHomes], LogFormat]
    default_roots: Callable[[AgentHomes], list[Path]]


FORMATS: dict[str, FormatSpec] = {
    spec.name: spec
    for spec in (
        FormatSpec(
            "claude-code",
            lambda stats, _homes: claude_code.ClaudeCodeFormat(stats),
            claude_code.default_roots,
        ),
        FormatSpec(
            "codex",
            lambda stats, _homes: codex.CodexFormat(stats),
            codex.default_roots,
        ),
        FormatSpec(
            "gemini",
            lambda stats, homes: gemini.GeminiFormat(
                stats, provider=gemini.provider_for(homes.gemini_dir)
            ),
            gemini.default_roots,
        ),
    )
}
