"""Routes for this wire format (being written; see issue 3)."""

from __future__ import annotations

from spendtap.providers.base import Route

ROUTES: list[Route] = []
