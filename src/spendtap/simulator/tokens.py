"""Deterministic token counts and the simulated prompt caches.

A prompt is cut into *pieces* in the order the provider reads it (tools, system,
then each message content block). Every piece is written as canonical JSON (sorted
keys, no spaces, UTF-8, ``cache_control`` removed) and the token count of the first
``k`` pieces is ``(their bytes added up) // 4``. Counts of prefixes therefore never
exceed the count of the whole prompt, and a test can work any of them out by hand:
``{"role": "user", "content": "hi"}`` is one piece, ``"hi"``, of 4 bytes: 1 token.

Anthropic caching: each piece that carries ``cache_control`` is a breakpoint. The
longest prefix ending at a piece boundary (up to the last breakpoint) that an earlier
call wrote is read from cache; the rest up to the last breakpoint is written, each
stretch with the TTL of the breakpoint that ends it.

OpenAI caching: prompts of 1024 tokens or more are cached automatically; a later call
that repeats a cached prefix of 1024 tokens or more reads it, rounded down to a
multiple of 128 tokens.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

BYTES_PER_TOKEN = 4
OPENAI_CACHE_MIN_TOKENS = 1024
OPENAI_CACHE_STEP = 128
TTL_1H = "1h"


@dataclass(frozen=True, slots=True)
class Piece:
    """One cacheable unit of a prompt; ``ttl`` is set when it is a breakpoint.

    ``neutral`` pieces count as tokens but do not change the cache key (Claude Code's
    per-prompt billing header block, which the real cache evidently ignores).
    """

    data: bytes
    ttl: str | None = None
    neutral: bool = False


@dataclass(frozen=True, slots=True)
class CacheOutcome:
    """Tokens of one Anthropic prompt: read from cache, written (by TTL), uncached."""

    input_tokens: int
    cache_read: int
    cache_write_5m: int
    cache_write_1h: int


def canonical_json(value: object) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def make_piece(value: object, *, neutral: bool = False) -> Piece:
    """A piece from a JSON value, its ``cache_control`` taken out as the TTL."""
    ttl: str | None = None
    if isinstance(value, dict) and "cache_control" in value:
        control = value["cache_control"]
        ttl = "5m"
        if isinstance(control, dict) and control.get("ttl") == TTL_1H:
            ttl = TTL_1H
        value = {k: v for k, v in value.items() if k != "cache_control"}
    return Piece(canonical_json(value), ttl, neutral)


def count_tokens(pieces: Sequence[Piece]) -> int:
    """Tokens of a whole prompt: at least 1."""
    return max(1, _prefix_tokens(pieces)[-1])


def words_to_tokens(text: str) -> int:
    """Output tokens of generated text: one per word."""
    return len(text.split())


def bytes_to_tokens(data: str) -> int:
    """Output tokens of generated JSON (tool arguments): bytes // 4, at least 1."""
    return max(1, len(data.encode()) // BYTES_PER_TOKEN)


def _prefix_tokens(pieces: Sequence[Piece]) -> list[int]:
    """Token count of the first ``k`` pieces, for k = 0..len(pieces)."""
    out = [0]
    total = 0
    for piece in pieces:
        total += len(piece.data)
        out.append(total // BYTES_PER_TOKEN)
    return out


def _prefix_hashes(scope: str, pieces: Sequence[Piece]) -> list[str]:
    """A rolling hash of the first ``k`` pieces, for k = 0..len(pieces)."""
    digest = hashlib.sha256(scope.encode()).hexdigest()
    out = [digest]
    for piece in pieces:
        if not piece.neutral:
            digest = hashlib.sha256(digest.encode() + piece.data).hexdigest()
        out.append(digest)
    return out


class PromptCache:
    """The prefixes each provider has seen, by model. Holds hashes, never text."""

    def __init__(self) -> None:
        self._anthropic: set[str] = set()
        self._openai: set[str] = set()

    def anthropic(self, model: str, pieces: Sequence[Piece]) -> CacheOutcome:
        tokens = _prefix_tokens(pieces)
        total = max(1, tokens[-1])
        breaks = [k + 1 for k, piece in enumerate(pieces) if piece.ttl is not None]
        if not breaks:
            return CacheOutcome(total, 0, 0, 0)

        hashes = _prefix_hashes(f"anthropic:{model}", pieces)
        last = breaks[-1]
        hit = max(
            (k for k in range(1, last + 1) if hashes[k] in self._anthropic), default=0
        )
        write = {"5m": 0, TTL_1H: 0}
        start = hit
        for end in breaks:
            if end <= hit:
                continue
            ttl = pieces[end - 1].ttl or "5m"
            write[ttl] += tokens[end] - tokens[start]
            start = end
        self._anthropic.update(hashes[k] for k in breaks)

        read = tokens[hit]
        written = write["5m"] + write[TTL_1H]
        return CacheOutcome(total - read - written, read, write["5m"], write[TTL_1H])

    def openai(self, model: str, pieces: Sequence[Piece]) -> int:
        """Cached tokens of an OpenAI prompt; remembers its prefixes for later."""
        tokens = _prefix_tokens(pieces)
        hashes = _prefix_hashes(f"openai:{model}", pieces)
        eligible = [
            k for k in range(1, len(pieces) + 1) if tokens[k] >= OPENAI_CACHE_MIN_TOKENS
        ]
        hit = max((k for k in eligible if hashes[k] in self._openai), default=0)
        self._openai.update(hashes[k] for k in eligible)
        return (tokens[hit] // OPENAI_CACHE_STEP) * OPENAI_CACHE_STEP
