"""The work item a call belongs to, read from the branch name or the commit subject.

Patterns are regular expressions tried in order, on the branch first and then on
the commit subject; the first match wins. What a match yields:

- the named group ``ticket`` when the pattern has one (``PAY-1423``);
- else the named group ``issue``, written as ``#<issue>`` (GitHub issue numbers);
- else the whole match.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from spendtap.errors import ConfigError

log = logging.getLogger(__name__)

#: Jira-style keys: PAY-1423 in ``feature/PAY-1423-retry``. Encodings and standard
#: names that look like keys (UTF-8, SHA-256, ISO-8601, RFC-9110) are not tickets.
JIRA_KEY = (
    r"(?<![A-Za-z0-9])"
    r"(?!(?:UTF|UCS|SHA|ISO|RFC|PEP|CVE|GPT|TLS|SSL|AES|HTTP)-)"
    r"(?P<ticket>[A-Z][A-Z0-9]+-[1-9][0-9]*)(?![0-9])"
)
#: GitHub's branch-from-issue names: ``123-fix-login`` or ``feature/123-fix-login``.
GITHUB_BRANCH = r"(?:^|/)(?P<issue>[1-9][0-9]*)-[A-Za-z]"
#: ``#123`` anywhere (``Fix login (#123)``), but not an HTML entity like ``&#123;``.
GITHUB_REFERENCE = r"(?<![\w&])#(?P<issue>[1-9][0-9]*)\b"

DEFAULT_TICKET_PATTERNS: tuple[str, ...] = (JIRA_KEY, GITHUB_BRANCH, GITHUB_REFERENCE)


class TicketMatcher:
    """Finds the ticket in a branch name, else in a commit subject."""

    def __init__(self, patterns: Sequence[str] | None = None) -> None:
        chosen = DEFAULT_TICKET_PATTERNS if patterns is None else tuple(patterns)
        self.patterns: tuple[re.Pattern[str], ...] = tuple(_compile(p) for p in chosen)

    def match(self, branch: str | None, subject: str | None = None) -> str | None:
        for text in (branch, subject):
            if text:
                found = self._search(text)
                if found is not None:
                    return found
        return None

    def _search(self, text: str) -> str | None:
        for pattern in self.patterns:
            found = pattern.search(text)
            if found is not None:
                return _ticket(found)
        return None


def _ticket(found: re.Match[str]) -> str | None:
    groups = found.groupdict()
    if groups.get("ticket"):
        return groups["ticket"]
    if groups.get("issue"):
        return f"#{groups['issue']}"
    return found.group(0) or None


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(
            f"ticket pattern {pattern!r} is not a valid regular expression: {exc}; "
            "fix or remove it from the ticket patterns"
        ) from exc
