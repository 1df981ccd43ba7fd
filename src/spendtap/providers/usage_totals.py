"""Usage added up over many calls: a batch results file, a Realtime session.

Counts add field by field. A field the wire never gave stays ``None``; a field given
by some calls and not others is the sum of what was given.
"""

from __future__ import annotations

from spendtap.event import TOKEN_FIELDS, Usage

#: The most distinct model names a total remembers; past it the model is unknown.
MAX_MODELS = 32


def add_usage(total: Usage, more: Usage) -> Usage:
    """``total`` plus ``more``, field by field, ``None`` meaning "not reported"."""
    return Usage(
        **{
            name: _plus(getattr(total, name), getattr(more, name))
            for name in TOKEN_FIELDS
        }
    )


def _plus(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else a + b


class ModelTotals:
    """Usage summed over calls, and which models served them (memory is bounded)."""

    def __init__(self) -> None:
        self.usage = Usage()
        self.calls = 0
        self._models: set[str] = set()
        self._too_many = False

    def add(self, model: str | None, usage: Usage) -> None:
        self.calls += 1
        self.usage = add_usage(self.usage, usage)
        if model is None or model in self._models:
            return
        if len(self._models) >= MAX_MODELS:
            self._too_many = True
        else:
            self._models.add(model)

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(sorted(self._models))

    @property
    def model(self) -> str | None:
        """The one model that served every call, or None when there were several."""
        if self._too_many or len(self._models) != 1:
            return None
        return next(iter(self._models))
