"""What an import read, kept, merged and skipped: every line is accounted for."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(slots=True)
class ImportStats:
    """Counters of one import (or one follow session), by what happened to a line.

    Warnings are counted here and logged once per file, never once per line.
    """

    files: int = 0
    lines: int = 0
    #: Usage events produced (one per API call).
    calls: int = 0
    #: Lines that repeat a call already taken in the same file (one line per
    #: content block, streaming snapshots).
    merged_lines: int = 0
    #: Calls already taken from another file (resumed or forked sessions).
    cross_file_duplicates: int = 0
    #: Lines that are not JSON at all.
    invalid_lines: int = 0
    #: An unfinished last line in a file that was not being written any more.
    truncated_lines: int = 0
    #: Lines longer than the reader holds.
    overlong_lines: int = 0
    #: Response lines without a usable timestamp or message id.
    unusable_lines: int = 0
    #: Messages the agent wrote itself, not API responses (Claude Code
    #: ``<synthetic>`` model, API error notices).
    synthetic_lines: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def summary(self) -> str:
        """``files=3 lines=120 calls=40 ...``, zero counters left out."""
        return " ".join(f"{k}={v}" for k, v in self.as_dict().items() if v)
