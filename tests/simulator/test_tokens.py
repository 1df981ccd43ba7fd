"""Token rules worked out by hand: canonical JSON bytes // 4 per prompt prefix."""

from __future__ import annotations

from spendtap.simulator.tokens import PromptCache, count_tokens, make_piece

# {"text":"<n chars>","type":"text"} is 9 + n + 16 bytes: n = 375 makes 400 bytes.
BLOCK_TEXT_FOR_100_TOKENS = 375
# {"content":"<n chars>","role":"user"} is 12 + n + 16 bytes.
MESSAGE_TEXT_FOR_1100_TOKENS = 4400 - 28


def _block(fill: str, ttl: str | None = None) -> dict[str, object]:
    block: dict[str, object] = {
        "type": "text",
        "text": fill * BLOCK_TEXT_FOR_100_TOKENS,
    }
    if ttl is not None:
        block["cache_control"] = {"type": "ephemeral", "ttl": ttl}
    return block


def test_a_two_letter_string_is_one_token() -> None:
    assert count_tokens([make_piece("hi")]) == 1  # '"hi"' is 4 bytes


def test_cache_control_is_not_counted() -> None:
    with_control = make_piece(_block("a", "5m"))
    without = make_piece(_block("a"))

    assert with_control.data == without.data
    assert count_tokens([with_control]) == 100


def test_anthropic_first_sight_writes_and_second_reads() -> None:
    cache = PromptCache()
    # 400 + '"question"' (10 bytes) = 410 bytes: 102 tokens, 100 of them cacheable.
    pieces = [make_piece(_block("a", "5m")), make_piece("question")]

    first = cache.anthropic("claude-x", pieces)
    second = cache.anthropic("claude-x", pieces)

    assert (first.input_tokens, first.cache_read, first.cache_write_5m) == (2, 0, 100)
    assert (second.input_tokens, second.cache_read, second.cache_write_5m) == (
        2,
        100,
        0,
    )


def test_anthropic_write_is_split_by_the_ttl_of_each_breakpoint() -> None:
    cache = PromptCache()
    pieces = [
        make_piece(_block("a", "1h")),
        make_piece(_block("b", "5m")),
        make_piece("question"),
    ]

    outcome = cache.anthropic("claude-x", pieces)

    assert (outcome.cache_write_1h, outcome.cache_write_5m) == (100, 100)
    assert outcome.input_tokens == 2  # 810 bytes: 202 tokens


def test_anthropic_longer_prompt_reads_the_prefix_and_writes_the_rest() -> None:
    cache = PromptCache()
    cache.anthropic("claude-x", [make_piece(_block("a", "5m")), make_piece("q")])

    outcome = cache.anthropic(
        "claude-x",
        [make_piece(_block("a")), make_piece(_block("c", "1h")), make_piece("q")],
    )

    assert outcome.cache_read == 100
    assert (outcome.cache_write_1h, outcome.cache_write_5m) == (100, 0)


def test_anthropic_cache_is_per_model() -> None:
    cache = PromptCache()
    pieces = [make_piece(_block("a", "5m")), make_piece("q")]
    cache.anthropic("claude-x", pieces)

    assert cache.anthropic("claude-y", pieces).cache_read == 0


def test_anthropic_without_breakpoints_everything_is_input() -> None:
    outcome = PromptCache().anthropic("claude-x", [make_piece(_block("a"))])

    assert outcome == type(outcome)(100, 0, 0, 0)


def test_neutral_piece_counts_but_does_not_break_the_cache() -> None:
    cache = PromptCache()
    head = make_piece("x-anthropic-billing-header: v=1", neutral=True)
    cache.anthropic("claude-x", [head, make_piece(_block("a", "5m"))])

    other_head = make_piece("x-anthropic-billing-header: v=2", neutral=True)
    outcome = cache.anthropic("claude-x", [other_head, make_piece(_block("a", "5m"))])

    # '"x-anthropic-billing-header: v=2"' is 33 bytes: 433 bytes, 108 tokens.
    assert (outcome.cache_read, outcome.input_tokens) == (108, 0)


def test_openai_repeated_long_prefix_is_cached_in_steps_of_128() -> None:
    cache = PromptCache()
    long = make_piece({"role": "user", "content": "z" * MESSAGE_TEXT_FOR_1100_TOKENS})

    first = cache.openai("gpt-x", [long])
    second = cache.openai(
        "gpt-x", [long, make_piece({"role": "user", "content": "more"})]
    )

    assert first == 0
    assert second == 1024  # 1100 tokens seen before, rounded down to 8 * 128


def test_openai_short_prompts_are_never_cached() -> None:
    cache = PromptCache()
    short = [make_piece({"role": "user", "content": "hello"})]
    cache.openai("gpt-x", short)

    assert cache.openai("gpt-x", short) == 0
