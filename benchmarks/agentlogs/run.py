"""spendtap import claude-code --json against ccusage daily --json, side by side.

    .venv/bin/python benchmarks/agentlogs/run.py [--lines 200000] [--runs 5]
        [--pure-python]

Generates (or reuses) a corpus with ``generate.py`` under ``--corpus``, then runs
both tools on it ``--runs`` times each, alternating which goes first, with
``HOME`` pointing at the corpus and ``TZ=UTC``. For every run it records wall
time, CPU time, and memory: the peak of the largest single process (as
``/usr/bin/time -v`` reports it) and the peak of the whole process tree's resident
and proportional set sizes, sampled with psutil every 10 ms (the proportional size,
which needs smaps, every 50 ms). ccusage runs as a Node launcher plus a native
binary; a large spendtap import forks a second reader. It then
checks that both tools report the same token totals for every day, and prints a
Markdown table of medians. ``--pure-python`` adds a third tool: spendtap with its
compiled Claude Code reader turned off (``SPENDTAP_PURE_PYTHON=1``), the baseline
that reader is measured against. spendtap's bytecode is compiled first, as installing it
from a wheel does (an editable install with ``PYTHONDONTWRITEBYTECODE`` set would
compile every module on every start).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[2]
CCUSAGE = ROOT / "tools/npm/node_modules/.bin/ccusage"
SPENDTAP = ROOT / ".venv/bin/spendtap"
SAMPLE_S = 0.01
#: Every how many samples the proportional set size (from smaps) is read too.
PSS_EVERY = 5
TOKEN_KINDS = ("input", "output", "cache_read", "cache_creation")
PURE = "spendtap (pure Python)"


@dataclass
class Run:
    tool: str
    wall_s: float
    cpu_s: float
    max_rss_mb: float
    tree_rss_mb: float
    tree_pss_mb: float
    stdout: bytes


def main() -> None:
    args = _arguments()
    corpus = _corpus(args.corpus, args.lines, args.seed)
    # As installed from a wheel: bytecode compiled once, not on every start.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "src")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    data_dir = Path(tempfile.mkdtemp(prefix="spendtap-bench-"))
    env = {**os.environ, "HOME": str(corpus), "TZ": "UTC"}
    env.pop("CLAUDE_CONFIG_DIR", None)
    ours_command = [
        str(args.spendtap),
        "import",
        "claude-code",
        "--json",
        "--data-dir",
        str(data_dir),
    ]
    commands = {
        "spendtap": ours_command,
        "ccusage": [str(args.ccusage), "daily", "--json", "--offline"],
    }
    envs = {"spendtap": env, "ccusage": env}
    if args.pure_python:
        commands[PURE] = ours_command
        envs[PURE] = {**env, "SPENDTAP_PURE_PYTHON": "1"}
    runs: list[Run] = []
    for index in range(args.runs):
        order = list(commands)
        if index % 2:
            order.reverse()
        for tool in order:
            run = measure(tool, commands[tool], envs[tool])
            print(
                f"run {index + 1} {tool:22} wall {run.wall_s:5.2f} s  cpu "
                f"{run.cpu_s:5.2f} s  max rss {run.max_rss_mb:5.0f} MB  tree rss "
                f"{run.tree_rss_mb:5.0f} MB  tree pss {run.tree_pss_mb:5.0f} MB",
                file=sys.stderr,
            )
            runs.append(run)

    ours = _our_days(next(r for r in runs if r.tool == "spendtap").stdout)
    theirs = _ccusage_days(next(r for r in runs if r.tool == "ccusage").stdout)
    print(report(args, corpus, runs, agree(ours, theirs)))


def measure(tool: str, command: list[str], env: dict[str, str]) -> Run:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.DEVNULL
        )
        peaks = _watch(process.pid)
        process.wait()
        wall = time.perf_counter() - started
        out.seek(0)
        stdout = out.read()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise SystemExit(f"{tool} failed with exit code {process.returncode}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(
        tool,
        wall,
        cpu,
        peaks.max_rss_kb / 1024,
        peaks.tree_rss / 2**20,
        peaks.tree_pss / 2**20,
        stdout,
    )


@dataclass
class _Peaks:
    tree_rss: int = 0
    tree_pss: int = 0
    max_rss_kb: int = 0


def _watch(pid: int) -> _Peaks:
    """Sample the process tree under ``pid`` until it exits (in this thread)."""
    peaks = _Peaks()
    done = threading.Event()

    def sample() -> None:
        try:
            root = psutil.Process(pid)
        except psutil.NoSuchProcess:
            return
        samples = 0
        while not done.is_set():
            # smaps (for the proportional size) is costly to read: the sampler
            # would take CPU from the tool it measures if it read it every time.
            full = samples % PSS_EVERY == 0
            samples += 1
            rss = pss = 0
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for proc in tree:
                try:
                    info = proc.memory_full_info() if full else proc.memory_info()
                except (
                    psutil.NoSuchProcess,
                    psutil.AccessDenied,
                    psutil.ZombieProcess,
                ):
                    continue
                rss += info.rss
                pss += getattr(info, "pss", info.rss)
                peaks.max_rss_kb = max(peaks.max_rss_kb, info.rss // 1024)
            peaks.tree_rss = max(peaks.tree_rss, rss)
            if full:
                peaks.tree_pss = max(peaks.tree_pss, pss)
            time.sleep(SAMPLE_S)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    finally:
        done.set()
        thread.join()
    return peaks


def _our_days(stdout: bytes) -> dict[str, dict[str, int]]:
    days: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(TOKEN_KINDS, 0))
    for line in stdout.splitlines():
        event = json.loads(line)
        day = days[event["started_at"][:10]]
        day["input"] += event["input_tokens"] or 0
        day["output"] += event["output_tokens"] or 0
        day["cache_read"] += event["cache_read_tokens"] or 0
        day["cache_creation"] += (event["cache_write_5m_tokens"] or 0) + (
            event["cache_write_1h_tokens"] or 0
        )
    return dict(days)


def _ccusage_days(stdout: bytes) -> dict[str, dict[str, int]]:
    report: dict[str, Any] = json.loads(stdout)
    return {
        row["period"]: {
            "input": row["inputTokens"],
            "output": row["outputTokens"],
            "cache_read": row["cacheReadTokens"],
            "cache_creation": row["cacheCreationTokens"],
        }
        for row in report["daily"]
    }


def agree(ours: dict[str, dict[str, int]], theirs: dict[str, dict[str, int]]) -> str:
    differing = [
        day
        for day in sorted(set(ours) | set(theirs))
        if ours.get(day) != theirs.get(day)
    ]
    if differing:
        return f"token totals DIFFER on {len(differing)} days (first: {differing[0]})"
    return f"token totals agree on all {len(ours)} days"


def report(
    args: argparse.Namespace, corpus: Path, runs: list[Run], agreement: str
) -> str:
    lines_total = sum(1 for p in corpus.rglob("*.jsonl") for _ in p.open("rb"))
    size = sum(p.stat().st_size for p in corpus.rglob("*.jsonl"))
    rows = [
        "| tool | wall s (median) | CPU s (median) | peak RSS, largest process MB | "
        "peak RSS, process tree MB | peak PSS, process tree MB |",
        "|---|---|---|---|---|---|",
    ]
    for tool in dict.fromkeys(r.tool for r in runs):
        mine = [r for r in runs if r.tool == tool]
        rows.append(
            f"| {tool} | {_median(mine, 'wall_s'):.2f} | {_median(mine, 'cpu_s'):.2f} | "
            f"{_median(mine, 'max_rss_mb'):.0f} | {_median(mine, 'tree_rss_mb'):.0f} | "
            f"{_median(mine, 'tree_pss_mb'):.0f} |"
        )
    header = (
        f"Corpus: {lines_total:,} transcript lines, {size / 1e6:.0f} MB, seed {args.seed}; "
        f"{args.runs} runs each, alternating; {os.cpu_count()} CPUs. {agreement}."
    )
    return "\n".join([header, "", *rows])


def _median(runs: list[Run], field: str) -> float:
    return statistics.median(float(getattr(r, field)) for r in runs)


def _corpus(path: Path, lines: int, seed: int) -> Path:
    marker = path / ".generated"
    wanted = f"{lines} {seed}"
    if marker.exists() and marker.read_text() == wanted:
        return path
    subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("generate.py")),
            str(path),
            "--lines",
            str(lines),
            "--seed",
            str(seed),
        ],
        check=True,
    )
    marker.write_text(wanted)
    return path


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--corpus",
        type=Path,
        default=Path(tempfile.gettempdir()) / "spendtap-agentlogs-bench",
    )
    parser.add_argument("--ccusage", type=Path, default=CCUSAGE)
    parser.add_argument("--spendtap", type=Path, default=SPENDTAP)
    parser.add_argument(
        "--pure-python",
        action="store_true",
        help="also run spendtap without its compiled reader (the baseline)",
    )
    return parser.parse_args()


if __name__ == "__main__":
    main()
