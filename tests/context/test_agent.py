from __future__ import annotations

import anthropic
import openai
import pytest
from google.genai import _api_client as genai_client
from google.genai import version as genai_version

from spendtap.context.agent import RULES, AgentInfo, AgentRule, classify_agent
from spendtap.context.process import ProcessInfo

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/135.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Safari/605.1.15"
)
CLAUDE_DESKTOP = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Claude/1.49585.0 Chrome/152.0.7977.76 Electron/42.10.0 "
    "Safari/537.36"
)
CURSOR = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Cursor/0.42.3 Chrome/124.0.6367.243 Electron/30.4.0 "
    "Safari/537.36"
)


def process_named(name: str) -> ProcessInfo:
    return ProcessInfo(
        pid=4242, name=name, exe=None, cwd=None, username=None, home=None
    )


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        ("claude-cli/2.1.197 (external, cli)", AgentInfo("claude-code", "2.1.197")),
        ("claude-cli/2.1.197 (external, sdk-cli)", AgentInfo("claude-code", "2.1.197")),
        (
            "claude-cli/2.0.14 (external, sdk-py, agent-sdk/0.1.3)",
            AgentInfo("claude-code", "2.0.14"),
        ),
        (
            "claude-cli/2.1.197 (external, local-agent, client-app/cowork)",
            AgentInfo("cowork", "2.1.197"),
        ),
        ("claude-cli/2.1.5 (external, remote_cowork)", AgentInfo("cowork", "2.1.5")),
        (CLAUDE_DESKTOP, AgentInfo("claude-desktop", "1.49585.0")),
        (CURSOR, AgentInfo("cursor", "0.42.3")),
        ("Anthropic/Python 0.40.0", AgentInfo("sdk-python", "0.40.0")),
        ("AsyncAnthropicVertex/Python 0.69.0", AgentInfo("sdk-python", "0.69.0")),
        ("AzureOpenAI/Python 1.54.3", AgentInfo("sdk-python", "1.54.3")),
        ("Anthropic/JS 0.36.3", AgentInfo("sdk-node", "0.36.3")),
        ("OpenAI/JS 4.77.0", AgentInfo("sdk-node", "4.77.0")),
        ("google-genai-sdk/1.20.0 gl-node/v20.11.0", AgentInfo("sdk-node", "1.20.0")),
        (
            "GeminiCLI/0.1.5 (linux; x64) google-genai-sdk/1.9.0 gl-node/v20.19.0",
            AgentInfo("gemini-cli", "0.1.5"),
        ),
        (
            "GeminiCLI/0.9.0/gemini-2.5-pro (darwin; arm64)",
            AgentInfo("gemini-cli", "0.9.0"),
        ),
        (
            "codex_cli_rs/0.38.0 (Ubuntu 24.04.2 LTS; x86_64) WindowsTerminal",
            AgentInfo("codex", "0.38.0"),
        ),
        (
            "codex_exec/0.125.0 (Mac OS 15.7.3; x86_64) ghostty/1.3.1 "
            "(codex_exec; 0.125.0)",
            AgentInfo("codex", "0.125.0"),
        ),
        ("curl/8.5.0", AgentInfo("curl", "8.5.0")),
        (CHROME, AgentInfo("browser")),
        (FIREFOX, AgentInfo("browser")),
        (SAFARI, AgentInfo("browser")),
        (
            "Mozilla/5.0 (compatible; Claude-User/1.0; +https://www.anthropic.com)",
            AgentInfo("unknown"),
        ),
        ("python-httpx/0.28.1", AgentInfo("unknown")),
        (None, AgentInfo("unknown")),
        ("", AgentInfo("unknown")),
    ],
)
def test_user_agent_classifies_the_tool(
    user_agent: str | None, expected: AgentInfo
) -> None:
    assert classify_agent(user_agent, None, {}) == expected


def test_installed_anthropic_and_openai_sdks_are_sdk_python() -> None:
    anthropic_ua = anthropic.Anthropic(api_key="test").user_agent
    openai_ua = openai.AsyncOpenAI(api_key="test").user_agent

    assert classify_agent(anthropic_ua, None, {}) == AgentInfo(
        "sdk-python", anthropic.__version__
    )
    assert classify_agent(openai_ua, None, {}) == AgentInfo(
        "sdk-python", openai.__version__
    )


def test_installed_google_genai_sdk_is_sdk_python() -> None:
    headers: dict[str, str] = {}
    genai_client.append_library_version_headers(headers)

    found = classify_agent(headers["user-agent"], None, {})

    assert found == AgentInfo("sdk-python", genai_version.__version__)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-app": "cli"}, AgentInfo("claude-code")),
        ({"X-Cursor-Client-Version": "2.1.17"}, AgentInfo("cursor", "2.1.17")),
        ({"x-cursor-client-version": "cli-1.0.34"}, AgentInfo("cursor", "1.0.34")),
        (
            {"originator": "codex_cli_rs", "version": "0.38.0"},
            AgentInfo("codex", "0.38.0"),
        ),
        (
            {"x-stainless-lang": "python", "x-stainless-package-version": "0.71.0"},
            AgentInfo("sdk-python", "0.71.0"),
        ),
        ({"x-stainless-lang": "js"}, AgentInfo("sdk-node")),
    ],
)
def test_headers_classify_when_the_user_agent_says_nothing(
    headers: dict[str, str], expected: AgentInfo
) -> None:
    assert classify_agent("my-wrapper/1.0", None, headers) == expected


def test_user_agent_wins_over_sdk_headers() -> None:
    headers = {"x-stainless-lang": "js", "x-stainless-package-version": "0.60.0"}

    found = classify_agent("claude-cli/2.1.197 (external, cli)", None, headers)

    assert found == AgentInfo("claude-code", "2.1.197")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Claude", "claude-desktop"),
        ("Claude.exe", "claude-desktop"),
        ("claude", "claude-code"),
        ("Cursor Helper (Plugin)", "cursor"),
        ("codex", "codex"),
        ("gemini", "gemini-cli"),
        ("python3.12", "python3.12"),
    ],
)
def test_process_name_classifies_when_nothing_else_does(
    name: str, expected: str
) -> None:
    assert classify_agent(None, process_named(name), {}).agent == expected


def test_user_agent_wins_over_process_name() -> None:
    found = classify_agent("curl/8.5.0", process_named("claude"), {})

    assert found == AgentInfo("curl", "8.5.0")


def test_rules_are_a_table_of_rule_objects() -> None:
    assert isinstance(RULES, tuple)
    assert all(isinstance(rule, AgentRule) for rule in RULES)


def test_custom_rule_table_is_honoured() -> None:
    only_curl = tuple(rule for rule in RULES if rule.agent == "curl")

    assert classify_agent(CHROME, None, {}, only_curl) == AgentInfo("unknown")
    assert classify_agent("curl/7.88.1", None, {}, only_curl) == AgentInfo(
        "curl", "7.88.1"
    )


def test_header_version_is_trimmed_and_bounded() -> None:
    headers = {"x-stainless-lang": "python", "x-stainless-package-version": "9" * 500}

    found = classify_agent(None, None, headers)

    assert found == AgentInfo("sdk-python", "9" * 40)
