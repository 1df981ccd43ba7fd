"""Which tool made a call: Claude Code, Cowork, Cursor, an SDK, a browser, ...

Classification is one ordered table of rules; the first rule that matches wins. A
rule looks at one piece of evidence (the User-Agent, one request header, or the
client process name) and may take the tool's version from a named group
``version`` or from another header. Put specific rules before general ones: the
Claude desktop app and Cursor send browser-like User-Agents.

User-Agents as the tools send them (checked against their sources):

- Claude Code: ``claude-cli/2.1.197 (external, cli)``; the part after ``external,``
  is its entry point (``cli``, ``sdk-cli``, ``sdk-py``, ``claude-vscode``, ...).
  Cowork runs it as ``local-agent`` (``remote_cowork`` in the cloud).
- Anthropic and OpenAI SDKs: ``<ClientClass>/Python 0.x`` and ``<ClientClass>/JS
  4.x`` (``Anthropic``, ``AsyncOpenAI``, ``AnthropicVertex``, ``AzureOpenAI``...),
  plus ``x-stainless-lang`` and ``x-stainless-package-version`` headers.
- Google Gen AI SDK: ``google-genai-sdk/1.x gl-python/3.12.1`` (``gl-node`` in JS);
  Gemini CLI puts ``GeminiCLI/0.x (linux; x64)`` in front of that.
- Codex CLI: ``codex_cli_rs/0.38.0 (Ubuntu 24.04; x86_64) ...`` (``codex_exec``,
  ``codex_vscode``) and an ``originator`` header.
- Electron apps: ``Mozilla/5.0 (...) AppleWebKit/537.36 (KHTML, like Gecko)
  Claude/1.49585.0 Chrome/152.0.7977.76 Electron/... Safari/537.36``; Cursor's
  editor says ``Cursor/...`` likewise, and its backend calls carry
  ``x-cursor-client-version``.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from spendtap.context.process import ProcessInfo

log = logging.getLogger(__name__)

UNKNOWN_AGENT = "unknown"
#: Versions come from headers any client can set: longer ones are cut.
MAX_VERSION_CHARS = 40


class Agent(enum.StrEnum):
    CLAUDE_CODE = "claude-code"
    CLAUDE_DESKTOP = "claude-desktop"
    COWORK = "cowork"
    CURSOR = "cursor"
    CODEX = "codex"
    GEMINI_CLI = "gemini-cli"
    SDK_PYTHON = "sdk-python"
    SDK_NODE = "sdk-node"
    CURL = "curl"
    BROWSER = "browser"


class Evidence(enum.StrEnum):
    USER_AGENT = "user_agent"
    HEADER = "header"
    PROCESS = "process"


@dataclass(frozen=True, slots=True)
class AgentInfo:
    #: An ``Agent`` value, else the client process name, else ``unknown``.
    agent: str
    agent_version: str | None = None


@dataclass(frozen=True, slots=True)
class Clues:
    """What a rule can look at. Header names are lower case."""

    user_agent: str
    headers: Mapping[str, str]
    process_name: str


@dataclass(frozen=True, slots=True)
class AgentRule:
    agent: Agent
    evidence: Evidence
    pattern: re.Pattern[str]
    #: The header a ``HEADER`` rule reads.
    header: str = ""
    #: A header that holds the version when the pattern has no ``version`` group.
    version_header: str = ""

    def match(self, clues: Clues) -> AgentInfo | None:
        found = self.pattern.search(self._text(clues))
        if found is None:
            return None
        version = found.groupdict().get("version")
        if version is None and self.version_header:
            version = clues.headers.get(self.version_header, "").strip() or None
        return AgentInfo(
            self.agent.value, version[:MAX_VERSION_CHARS] if version else None
        )

    def _text(self, clues: Clues) -> str:
        match self.evidence:
            case Evidence.USER_AGENT:
                return clues.user_agent
            case Evidence.HEADER:
                return clues.headers.get(self.header, "")
            case Evidence.PROCESS:
                return clues.process_name


def _ua(agent: Agent, pattern: str) -> AgentRule:
    return AgentRule(agent, Evidence.USER_AGENT, re.compile(pattern))


def _header(agent: Agent, header: str, pattern: str, version: str = "") -> AgentRule:
    return AgentRule(agent, Evidence.HEADER, re.compile(pattern), header, version)


def _process(agent: Agent, pattern: str) -> AgentRule:
    return AgentRule(agent, Evidence.PROCESS, re.compile(pattern))


_VERSION = r"(?P<version>[^\s(/;]+)"
_CLAUDE_CLI = rf"^claude-cli/{_VERSION}"
_COWORK_ENTRY = r"(?:local-agent|local_agent|remote_cowork|claude-coworker)"

RULES: tuple[AgentRule, ...] = (
    _ua(Agent.COWORK, rf"{_CLAUDE_CLI} \(external, {_COWORK_ENTRY}"),
    _ua(Agent.CLAUDE_CODE, _CLAUDE_CLI),
    _ua(Agent.COWORK, rf"(?i)\bcowork\b(?:/{_VERSION})?"),
    _ua(Agent.GEMINI_CLI, rf"\bGeminiCLI/{_VERSION}"),
    _ua(Agent.CODEX, rf"^(?:codex[\w-]*|Codex Desktop)/{_VERSION}"),
    _ua(Agent.CLAUDE_DESKTOP, r"\bClaude/(?P<version>\d[\w.]*)"),
    _ua(Agent.CURSOR, r"\bCursor/(?P<version>\d[\w.]*)"),
    _ua(Agent.SDK_PYTHON, r"^\w*(?:Anthropic|OpenAI)\w*/Python (?P<version>\S+)"),
    _ua(Agent.SDK_NODE, r"^\w*(?:Anthropic|OpenAI)\w*/JS (?P<version>\S+)"),
    _ua(Agent.SDK_PYTHON, r"\bgoogle-genai-sdk/(?P<version>\S+) gl-python/"),
    _ua(Agent.SDK_NODE, r"\bgoogle-genai-sdk/(?P<version>\S+) gl-node/"),
    _ua(Agent.CURL, rf"^curl/{_VERSION}"),
    _header(Agent.CLAUDE_CODE, "x-app", r"^cli$"),
    _header(Agent.CURSOR, "x-cursor-client-version", r"^(?:cli-)?(?P<version>\S+)$"),
    _header(Agent.CODEX, "originator", r"^codex", version="version"),
    _header(
        Agent.SDK_PYTHON, "x-stainless-lang", r"^python$", "x-stainless-package-version"
    ),
    _header(Agent.SDK_NODE, "x-stainless-lang", r"^js$", "x-stainless-package-version"),
    _ua(Agent.BROWSER, r"^Mozilla/5\.0 .*\b(?:Chrome|Firefox|Safari)/"),
    _process(Agent.CLAUDE_DESKTOP, r"^Claude(?:\.exe)?$"),
    _process(Agent.CLAUDE_CODE, r"^claude(?:\.exe)?$"),
    _process(Agent.CURSOR, r"^Cursor\b"),
    _process(Agent.CODEX, r"^codex(?:\.exe)?$"),
    _process(Agent.GEMINI_CLI, r"^gemini(?:\.exe)?$"),
)


def classify_agent(
    user_agent: str | None,
    process: ProcessInfo | None,
    headers: Mapping[str, str],
    rules: tuple[AgentRule, ...] = RULES,
) -> AgentInfo:
    """The tool behind a call: the first rule that matches, else the process name."""
    process_name = (process.name if process else None) or ""
    clues = Clues(
        user_agent=(user_agent or "").strip(),
        headers={name.lower(): value for name, value in headers.items()},
        process_name=process_name,
    )
    for rule in rules:
        info = rule.match(clues)
        if info is not None:
            return info
    return AgentInfo(process_name or UNKNOWN_AGENT)
