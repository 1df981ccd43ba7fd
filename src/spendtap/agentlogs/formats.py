"""The agent log formats ``spendtap import`` knows, by the name the command takes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from spendtap.agentlogs import claude_code
from spendtap.agentlogs.context import AgentHomes
from spendtap.agentlogs.importer import LogFormat
from spendtap.agentlogs.stats import ImportStats


@dataclass(frozen=True, slots=True)
class FormatSpec:
    name: str
    make: Callable[[ImportStats], LogFormat]
    default_roots: Callable[[AgentHomes], list[Path]]
    help: str


FORMATS: dict[str, FormatSpec] = {
    spec.name: spec
    for spec in (
        FormatSpec(
            "claude-code",
            claude_code.ClaudeCodeFormat,
            claude_code.default_roots,
            "Claude Code transcripts (default ~/.claude/projects)",
        ),
    )
}
