"""Path tests for routes beyond ``framing.path_is``: sets of paths, and patterns."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

PathTest = Callable[[str], bool]


def path_in(paths: Iterable[str]) -> PathTest:
    """One of ``paths`` exactly, a trailing slash allowed."""
    expected = frozenset(paths)
    return lambda path: path.rstrip("/") in expected


def path_matches(pattern: str) -> PathTest:
    """The whole path (a trailing slash allowed) matches the regular expression."""
    compiled = re.compile(pattern)
    return lambda path: compiled.fullmatch(path.rstrip("/")) is not None
