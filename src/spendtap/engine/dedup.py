"""Cross-source de-duplication: the same call seen by two capture sources counts once.

The proxy, an agent's own log and its telemetry can each report one call. Two events
from different capture sources are the same call when, in this order:

1. both have a response id: the same ``(provider, response_id)``;
2. else both have a request id: the same ``request_id``;
3. else their fingerprints are equal (same model, input, output, cache-read and
   cache-write token counts) and they started within :data:`FINGERPRINT_WINDOW_MS`.

The first one stored wins; a later one is linked to it (``event_links``) and may fill
the stored event's null context fields (:data:`FILLABLE`). docs/dedup.md says why.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, RowMapping, select

from spendtap.engine.dialect import member_of
from spendtap.engine.tables import event_index

FINGERPRINT_WINDOW_MS = 2000
#: Fields a later duplicate may fill on the stored event when they are null there.
FILLABLE: tuple[str, ...] = ("session_id", "branch", "agent_cost_nanos")
#: Ranks given to calls whose seq is not known yet: after every stored one.
_UNRANKED = 2**62


class MatchedBy(enum.StrEnum):
    RESPONSE_ID = "response_id"
    REQUEST_ID = "request_id"
    FINGERPRINT = "fingerprint"


def fingerprint(
    model: str | None,
    input_tokens: int | None,
    output_tokens: int | None,
    cache_read_tokens: int | None,
    cache_write_tokens: int | None,
) -> str | None:
    """A short hash of the model and token counts; None when too little is known.

    Cache writes are one number (5-minute plus 1-hour), since sources differ in
    whether they split them by TTL.
    """
    if not model or (input_tokens is None and output_tokens is None):
        return None
    counts = (input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
    text = "|".join([model, *("-" if c is None else str(c) for c in counts)])
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


@dataclass(frozen=True, slots=True)
class CallKeys:
    """What identifies a call across capture sources."""

    event_id: str
    capture_source: str
    provider: str
    response_id: str | None
    request_id: str | None
    fingerprint: str | None
    started_ms: int


@dataclass(frozen=True, slots=True)
class Candidate:
    """A call already known: stored, or itself linked to a stored one."""

    keys: CallKeys
    duplicate_of: str | None = None
    rank: int | None = None
    """Where the stored call comes in arrival order (its seq), when known."""

    @property
    def stored_id(self) -> str:
        """The id of the stored event this candidate stands for."""
        return self.duplicate_of or self.keys.event_id


@dataclass(frozen=True, slots=True)
class Match:
    stored_id: str
    matched_by: MatchedBy


def same_call(a: CallKeys, b: CallKeys) -> MatchedBy | None:
    """Why ``a`` and ``b`` are one call seen by two sources, or None if they are not."""
    if a.capture_source == b.capture_source:
        return None
    if a.response_id and b.response_id:
        same = (a.provider, a.response_id) == (b.provider, b.response_id)
        return MatchedBy.RESPONSE_ID if same else None
    if a.request_id and b.request_id:
        return MatchedBy.REQUEST_ID if a.request_id == b.request_id else None
    if (
        a.fingerprint is not None
        and a.fingerprint == b.fingerprint
        and abs(a.started_ms - b.started_ms) <= FINGERPRINT_WINDOW_MS
    ):
        return MatchedBy.FINGERPRINT
    return None


class TwinFinder:
    """Finds, for a new event, the earliest known call it duplicates."""

    def __init__(self, known: Iterable[Candidate] = ()) -> None:
        self._rank: dict[str, int] = {}
        self._unranked = _UNRANKED
        self._by_response: dict[tuple[str, str], list[Candidate]] = {}
        self._by_request: dict[str, list[Candidate]] = {}
        self._by_fingerprint: dict[str, list[Candidate]] = {}
        for candidate in known:
            self.add(candidate)

    def add(self, candidate: Candidate) -> None:
        keys = candidate.keys
        if candidate.rank is not None and candidate.duplicate_of is None:
            self._rank[candidate.stored_id] = candidate.rank
        elif candidate.stored_id not in self._rank:
            self._unranked += 1
            self._rank[candidate.stored_id] = self._unranked
        if keys.response_id:
            index = (keys.provider, keys.response_id)
            self._by_response.setdefault(index, []).append(candidate)
        if keys.request_id:
            self._by_request.setdefault(keys.request_id, []).append(candidate)
        if keys.fingerprint:
            self._by_fingerprint.setdefault(keys.fingerprint, []).append(candidate)

    def match(self, keys: CallKeys) -> Match | None:
        found: list[Match] = []
        for candidate in self._candidates(keys):
            matched_by = same_call(keys, candidate.keys)
            if matched_by is not None:
                found.append(Match(candidate.stored_id, matched_by))
        if not found:
            return None
        return min(found, key=lambda m: self._rank[m.stored_id])

    def _candidates(self, keys: CallKeys) -> list[Candidate]:
        out: list[Candidate] = []
        if keys.response_id:
            out += self._by_response.get((keys.provider, keys.response_id), [])
        if keys.request_id:
            out += self._by_request.get(keys.request_id, [])
        if keys.fingerprint:
            out += self._by_fingerprint.get(keys.fingerprint, [])
        return out


def known_candidates(conn: Connection, calls: Sequence[CallKeys]) -> list[Candidate]:
    """The known calls sharing a response id, request id or fingerprint with
    ``calls``: stored ones first, in arrival order, then linked ones."""
    responses = sorted({c.response_id for c in calls if c.response_id})
    requests = sorted({c.request_id for c in calls if c.request_id})
    prints = sorted({c.fingerprint for c in calls if c.fingerprint})
    found: dict[str, Candidate] = {}
    for column, values in (
        (event_index.c.response_id, responses),
        (event_index.c.request_id, requests),
        (event_index.c.fingerprint, prints),
    ):
        for condition in member_of(conn, column, values):
            stmt = select(event_index).where(condition)
            if column is event_index.c.fingerprint:
                stmt = stmt.where(_near(calls))
            for row in conn.execute(stmt).mappings():
                found[row["event_id"]] = _candidate(row)
    return sorted(found.values(), key=_arrival)


def _near(calls: Sequence[CallKeys]) -> ColumnElement[bool]:
    times = [c.started_ms for c in calls if c.fingerprint]
    return event_index.c.started_ms.between(
        min(times) - FINGERPRINT_WINDOW_MS, max(times) + FINGERPRINT_WINDOW_MS
    )


def _candidate(row: RowMapping) -> Candidate:
    keys = CallKeys(
        event_id=row["event_id"],
        capture_source=row["capture_source"],
        provider=row["provider"],
        response_id=row["response_id"],
        request_id=row["request_id"],
        fingerprint=row["fingerprint"],
        started_ms=row["started_ms"],
    )
    return Candidate(keys=keys, duplicate_of=row["duplicate_of"], rank=row["seq"])


def _arrival(candidate: Candidate) -> tuple[int, str]:
    rank = candidate.rank if candidate.duplicate_of is None else None
    return (_UNRANKED if rank is None else rank, candidate.keys.event_id)
