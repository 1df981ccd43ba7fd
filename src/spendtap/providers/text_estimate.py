"""Token estimates for calls whose wire carries no counts (web chat).

Text is never kept: a caller hands over each piece as it arrives, only its UTF-8 byte
length is added, and the estimate is one token per four bytes, rounded up (about
right for English prose with the common tokenizers; off for code and other scripts,
and so marked ``estimated``).
"""

from __future__ import annotations

from spendtap.event import Usage

BYTES_PER_TOKEN = 4


def estimate_tokens(byte_count: int) -> int:
    return -(-byte_count // BYTES_PER_TOKEN)


def utf8_length(text: object) -> int:
    """The UTF-8 size of a JSON string; 0 for anything else."""
    return len(text.encode("utf-8", "replace")) if isinstance(text, str) else 0


class TextTally:
    """Byte counts of a call's generated text, by kind; never the text itself."""

    def __init__(self) -> None:
        self.answer_bytes = 0
        self.thinking_bytes = 0

    @property
    def seen(self) -> bool:
        return bool(self.answer_bytes or self.thinking_bytes)

    def add_answer(self, text: object) -> None:
        self.answer_bytes += utf8_length(text)

    def add_thinking(self, text: object) -> None:
        self.thinking_bytes += utf8_length(text)

    def usage(self, prompt_bytes: int | None, *, ended: bool) -> Usage:
        """Estimated usage; output is unknown (None) if nothing came and it never ended."""
        generated = self.answer_bytes + self.thinking_bytes
        return Usage(
            input_tokens=None
            if prompt_bytes is None
            else estimate_tokens(prompt_bytes),
            output_tokens=estimate_tokens(generated) if generated or ended else None,
            reasoning_tokens=(
                estimate_tokens(self.thinking_bytes) if self.thinking_bytes else None
            ),
        )
