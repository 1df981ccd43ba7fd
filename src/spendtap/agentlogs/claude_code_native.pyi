# Types of the compiled reader (claude_code_native.pyx), for mypy.
from collections.abc import Callable, Iterator
from typing import Any

from spendtap.agentlogs.events import EventLine, ImportedEvent
from spendtap.pricing.card import Card

SLOTS: tuple[str, ...]
CACHE_SIZE_LIMIT: int

class DayPlan:
    card: Card
    starts: tuple[int, ...]
    per_call: tuple[int, ...]
    per_unit: tuple[tuple[int, ...], ...]
    scale: int
    def __init__(
        self,
        card: Card,
        starts: tuple[int, ...],
        per_call: list[int],
        per_unit: list[list[int]],
        scale: int,
    ) -> None: ...

class TranscriptEvents:
    lines: int
    invalid_lines: int
    slow_calls: int
    @property
    def cached(self) -> dict[str, int]: ...
    def __init__(
        self,
        fmt: Any,
        plans: Any,
        decode: Callable[[Any], Any],
        read_line: Callable[[bytes], Any],
        is_time: Callable[[str, bool], bool],
        earlier: Callable[[str, str], bool],
        sha1: Callable[[bytes], Any],
        dumps_float: Callable[[float], bytes],
        make_line: type[EventLine],
        make_imported: type[ImportedEvent],
        namespace: bytes,
    ) -> None: ...
    def feed(self, data: bytes, start: int, end: int) -> int: ...
    def feed_tail(self, tail: bytes) -> bool: ...
    def finish(self) -> Iterator[list[ImportedEvent]]: ...
