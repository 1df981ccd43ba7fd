"""Write a synthetic Claude Code transcript corpus shaped like real ones.

    python benchmarks/agentlogs/generate.py OUT_DIR --lines 200000 [--seed 7]

``OUT_DIR/.claude/projects/<project>/<session>.jsonl`` is written the way Claude
Code 2.1 writes it (compact JSON, one object a line, millisecond UTC timestamps):
user prompts, tool results with large bodies, and assistant responses written as
one line per content block (thinking, text, tool use) that share the message id,
the request id and the usage. Like real transcripts it also has:

- streaming snapshots: a response whose first line carries a partial
  ``output_tokens`` and whose later lines the final count;
- resumed sessions: a new session file that starts with a copy of an earlier
  session's lines (cross-file duplicates);
- subagent (sidechain) lines, both inline and in ``<session>/subagents/``;
- older one-line responses without ``requestId``, and summary lines.

Nothing here is spaced JSON or has microsecond timestamps, so ccusage reads
every line too and both tools must agree on the token totals.
"""

from __future__ import annotations

import argparse
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

MODELS = (
    ("claude-sonnet-4-5-20250929", 0.55),
    ("claude-opus-4-1-20250805", 0.15),
    ("claude-haiku-4-5-20251001", 0.30),
)
WORDS = [
    "the",
    "request",
    "handler",
    "retries",
    "payment",
    "settlement",
    "when",
    "ledger",
    "entries",
    "arrive",
    "late",
    "so",
    "refactor",
    "queue",
    "worker",
    "tests",
    "pass",
    "again",
    "after",
    "migration",
    "parses",
    "config",
    "files",
    "function",
    "returns",
    "error",
    "value",
    "struct",
    "field",
    "import",
    "module",
    "branch",
    "commit",
    "review",
]
PROJECTS = 12
START = datetime(2025, 10, 1, 8, 0, tzinfo=UTC)


@dataclass
class Corpus:
    out: Path
    rng: random.Random
    texts: dict[int, list[str]] = field(default_factory=dict)
    lines: int = 0
    responses: int = 0

    def tool_output(self) -> str:
        """A tool's output: mostly short (a command's), often a page (a search or
        a build log), sometimes a whole file read (up to 40 KB)."""
        kind = self.rng.random()
        if kind < 0.5:
            return self.text(100, 1500)
        if kind < 0.85:
            return self.text(1500, 8000)
        return self.text(8000, 40000)

    def text(self, low: int, high: int) -> str:
        size = self.rng.randint(low, high)
        bucket = size // 100
        pool = self.texts.setdefault(bucket, [])
        if len(pool) < 8:
            words = [self.rng.choice(WORDS) for _ in range(size // 6 + 1)]
            pool.append(" ".join(words)[:size])
        return self.rng.choice(pool)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Session:
    corpus: Corpus
    cwd: str
    branch: str
    session_id: str
    clock: datetime
    parent: str | None = None
    out: list[str] = field(default_factory=list)

    def line(
        self, kind: str, message: dict[str, Any], sidechain: bool = False, **extra: Any
    ) -> dict[str, Any]:
        """A line with Claude Code 2.1's key order: the message first, then the
        line's own keys, then where it was written."""
        self.clock += timedelta(milliseconds=self.corpus.rng.randint(200, 9000))
        line_uuid = str(uuid.UUID(int=self.corpus.rng.getrandbits(128)))
        record: dict[str, Any] = {"parentUuid": self.parent, "isSidechain": sidechain}
        if kind == "user":
            record["type"] = "user"
        record["message"] = message
        record.update(extra)
        if kind != "user":
            record["type"] = kind
        record["uuid"] = line_uuid
        record["timestamp"] = stamp(self.clock)
        record.update(
            userType="external",
            entrypoint="cli",
            cwd=self.cwd,
            sessionId=self.session_id,
            version="2.1.197",
            gitBranch=self.branch,
        )
        self.parent = line_uuid
        return record

    def prompt(self) -> None:
        message = {"role": "user", "content": self.corpus.text(20, 400)}
        self.emit(self.line("user", message))

    def tool_result(self, tool_id: str, sidechain: bool) -> None:
        body = self.corpus.tool_output()
        message = {
            "role": "user",
            "content": [
                {"tool_use_id": tool_id, "type": "tool_result", "content": body}
            ],
        }
        result = {"stdout": body, "stderr": "", "interrupted": False}
        self.emit(self.line("user", message, sidechain, toolUseResult=result))

    def response(self, sidechain: bool = False) -> str | None:
        rng = self.corpus.rng
        model = rng.choices([m for m, _ in MODELS], [w for _, w in MODELS])[0]
        message_id = f"msg_{rng.getrandbits(96):024x}"
        request_id = f"req_{rng.getrandbits(96):024x}" if rng.random() > 0.03 else None
        write_5m = rng.choice((0, 0, 0, rng.randint(200, 30000)))
        write_1h = rng.choice((0, 0, 0, 0, rng.randint(100, 8000)))
        usage = {
            "input_tokens": rng.randint(1, 4000),
            "cache_creation_input_tokens": write_5m + write_1h,
            "cache_read_input_tokens": rng.randint(0, 150000),
            "cache_creation": {
                "ephemeral_5m_input_tokens": write_5m,
                "ephemeral_1h_input_tokens": write_1h,
            },
            "output_tokens": rng.randint(5, 6000),
            "service_tier": "standard",
        }
        blocks: list[dict[str, Any]] = []
        if rng.random() < 0.5:
            blocks.append({"type": "thinking", "thinking": self.corpus.text(300, 3000)})
        blocks.append({"type": "text", "text": self.corpus.text(50, 1500)})
        tool_id = None
        if rng.random() < 0.6:
            tool_id = f"toolu_{rng.getrandbits(96):024x}"
            blocks.append(
                {
                    "type": "tool_use",
                    "id": tool_id,
                    "name": rng.choice(("Bash", "Read", "Edit", "Grep")),
                    "input": {"command": self.corpus.text(20, 800)},
                }
            )
        if request_id is None:
            blocks = blocks[-1:]  # older versions wrote one line per response
        snapshot = rng.random() < 0.2
        for index, block in enumerate(blocks):
            line_usage = dict(usage)
            if snapshot and index == 0 and len(blocks) > 1:
                line_usage["output_tokens"] = rng.randint(1, 4)
            message = {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [block],
                "stop_reason": None if index < len(blocks) - 1 else "tool_use",
                "stop_sequence": None,
                "usage": line_usage,
                "stop_details": None,
            }
            extra = {} if request_id is None else {"requestId": request_id}
            self.emit(self.line("assistant", message, sidechain, **extra))
        self.corpus.responses += 1
        return tool_id

    def emit(self, record: dict[str, Any]) -> None:
        self.out.append(dumps(record))


def write_session(corpus: Corpus, path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    corpus.lines += len(lines)


def make_session(
    corpus: Corpus, project: int, when: datetime, subagent: bool = False
) -> Session:
    rng = corpus.rng
    ticket = f"PAY-{rng.randint(100, 999)}"
    session = Session(
        corpus,
        cwd=f"/home/dev/src/service-{project}",
        branch=rng.choice(("main", f"feature/{ticket}-retry", "HEAD")),
        session_id=str(uuid.UUID(int=rng.getrandbits(128))),
        clock=when,
    )
    for _ in range(rng.randint(3, 40)):
        session.prompt()
        for _ in range(rng.randint(1, 6)):
            tool_id = session.response(sidechain=subagent)
            if tool_id is not None:
                session.tool_result(tool_id, sidechain=subagent)
        if rng.random() < 0.15:
            for _ in range(rng.randint(1, 3)):
                tool_id = session.response(sidechain=True)
                if tool_id is not None:
                    session.tool_result(tool_id, sidechain=True)
    return session


def generate(out: Path, target_lines: int, seed: int) -> Corpus:
    corpus = Corpus(out, random.Random(seed))
    rng = corpus.rng
    projects = out / ".claude" / "projects"
    previous: dict[int, Session] = {}
    day = 0
    while corpus.lines < target_lines:
        project = rng.randrange(PROJECTS)
        when = START + timedelta(days=day % 30, hours=rng.randint(0, 12))
        day += 1
        session = make_session(corpus, project, when)
        folder = projects / f"-home-dev-src-service-{project}"
        lines = list(session.out)
        prior = previous.get(project)
        if prior is not None and rng.random() < 0.1:
            lines = prior.out + lines  # a resumed session repeats its history
        if rng.random() < 0.05:
            lines.append(dumps({"type": "summary", "summary": "work", "leafUuid": "x"}))
        write_session(corpus, folder / f"{session.session_id}.jsonl", lines)
        if rng.random() < 0.08:
            agent = make_session(corpus, project, when, subagent=True)
            sub = folder / session.session_id / "subagents" / "agent-a1.jsonl"
            write_session(corpus, sub, agent.out)
        previous[project] = session
    return corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    corpus = generate(args.out, args.lines, args.seed)
    size = sum(p.stat().st_size for p in args.out.rglob("*.jsonl"))
    print(
        f"wrote {corpus.lines} lines ({corpus.responses} responses written, "
        f"{size / 1e6:.0f} MB) under {args.out}"
    )


if __name__ == "__main__":
    main()
