from __future__ import annotations

import pytest

from spendtap.context.ticket import TicketMatcher
from spendtap.errors import ConfigError


@pytest.mark.parametrize(
    ("branch", "expected"),
    [
        ("feature/PAY-1423-retry", "PAY-1423"),
        ("PAY-1423", "PAY-1423"),
        ("bugfix/OPS2-77_hotfix", "OPS2-77"),
        ("123-fix-login", "#123"),
        ("feature/123-fix-login", "#123"),
        ("fix-#88", "#88"),
        ("main", None),
        ("release/2024-05", None),
        ("feature/pay-1423-lowercase", None),
    ],
)
def test_default_patterns_find_the_ticket_in_a_branch(
    branch: str, expected: str | None
) -> None:
    assert TicketMatcher().match(branch) == expected


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Fix login redirect (#123)", "#123"),
        ("PAY-77: round totals half-even", "PAY-77"),
        ("Use UTF-8 and SHA-256 everywhere", None),
        ("Escape &#123; in templates", None),
        ("Tidy imports", None),
    ],
)
def test_default_patterns_read_the_commit_subject_when_the_branch_has_none(
    subject: str, expected: str | None
) -> None:
    assert TicketMatcher().match("main", subject) == expected


def test_branch_ticket_wins_over_subject_ticket() -> None:
    assert TicketMatcher().match("feature/PAY-1-a", "Refs ABC-2") == "PAY-1"


def test_no_branch_and_no_subject_gives_no_ticket() -> None:
    assert TicketMatcher().match(None, None) is None
    assert TicketMatcher().match("", "") is None


def test_configured_pattern_uses_its_ticket_group() -> None:
    matcher = TicketMatcher([r"eng/(?P<ticket>ENG\d+)"])

    assert matcher.match("eng/ENG42-cache") == "ENG42"


def test_configured_pattern_without_groups_uses_the_whole_match() -> None:
    assert TicketMatcher([r"T\d+"]).match("work/T7-x") == "T7"


def test_configured_patterns_replace_the_defaults() -> None:
    matcher = TicketMatcher([r"T\d+"])

    assert matcher.match("feature/PAY-1423-retry") is None


def test_empty_pattern_list_finds_nothing() -> None:
    assert TicketMatcher([]).match("feature/PAY-1423-retry") is None


def test_invalid_pattern_is_a_config_error_naming_pattern_and_cause() -> None:
    with pytest.raises(ConfigError) as caught:
        TicketMatcher([r"PAY-(\d+"])

    message = str(caught.value)
    assert "'PAY-(\\\\d+'" in message
    assert "missing ), unterminated subpattern" in message
