"""The route registry: built-in and third-party parsers, found by entry point.

Built-in wire formats are declared in ``pyproject.toml`` under the
``spendtap.providers`` entry-point group, exactly as an outside package would declare
its own; each entry point names a list of ``Route`` objects.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from functools import cache
from importlib.metadata import entry_points

from spendtap.providers.base import RequestInfo, Route

ENTRY_POINT_GROUP = "spendtap.providers"

log = logging.getLogger(__name__)


class Registry:
    """An ordered set of routes; the first route that matches a request wins."""

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self._routes: list[Route] = list(routes)

    @property
    def routes(self) -> Sequence[Route]:
        return tuple(self._routes)

    def add(self, routes: Iterable[Route]) -> None:
        self._routes.extend(routes)

    def route(self, request: RequestInfo) -> Route | None:
        for candidate in self._routes:
            if candidate.matches(request):
                return candidate
        return None


@cache
def default_registry() -> Registry:
    """Every route declared in the ``spendtap.providers`` entry-point group."""
    registry = Registry()
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            registry.add(ep.load())
        except Exception:  # an outside plug-in must not stop the collector
            log.exception("providers.load_failed entry_point=%s", ep.name)
    return registry
