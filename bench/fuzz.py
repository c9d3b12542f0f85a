"""Fuzz benchmark: thousands of mutated projects through `assetforge build --json`.

Then every megabyte-line case (each shape of tests/fuzzcases.py's LONG_SHAPES with each fill
of LONG_FILL, in a manifest and in assetforge.toml): each must be answered within 1 s (the
bound the README states); the slowest is printed.

Each case copies a small built project, mutates a manifest or assetforge.toml (tests/fuzzcases.py:
byte flips, truncation, invalid UTF-8, wrong types, deep nesting, huge strings, NUL, odd ids and
outputs, symlinks out of the project, splices) and runs the CLI in process under a per-case
timeout. Prints the counts the issue asks for: tracebacks, hangs, exit codes, and how many
exit-2 messages name a file and a line; plus every other broken invariant.

    .venv/bin/python bench/fuzz.py [CASES=1000] [--seed N] [--timeout 10]
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fuzzcases import (  # noqa: E402
    KINDS,
    LONG_FILL,
    LONG_SHAPES,
    TARGETS,
    long_line,
    make_base,
    run_case,
)


class Hang(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise Hang


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cases", nargs="?", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per case")
    ap.add_argument("--long-bound", type=float, default=1.0,
                    help="seconds a megabyte-line case may take")
    ap.add_argument("--no-long", action="store_true", help="skip the megabyte-line cases")
    args = ap.parse_args()

    from click.testing import CliRunner

    from assetforge.cli import cli

    rng = random.Random(args.seed)
    counts: collections.Counter[str] = collections.Counter()
    exits: collections.Counter[int] = collections.Counter()
    per_kind: dict[str, collections.Counter[int]] = collections.defaultdict(collections.Counter)
    examples: dict[str, str] = {}
    slowest = (0.0, "")
    signal.signal(signal.SIGALRM, _alarm)
    with tempfile.TemporaryDirectory() as tmp:
        base = make_base(Path(tmp) / "base")
        res = CliRunner().invoke(cli, ["--project", str(base), "build", "--json"])
        assert res.exit_code == 0, res.output
        started = time.perf_counter()
        for i in range(args.cases):
            kind, target = rng.choice(KINDS), rng.choice(TARGETS)
            seed = rng.randrange(2**32)
            t0 = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, args.timeout)
            try:
                outcome = run_case(base, Path(tmp) / "case", kind, target, seed)
            except Hang:
                counts["hangs"] += 1
                examples.setdefault("hang", f"{kind} {target} seed={seed}")
                continue
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            took = time.perf_counter() - t0
            slowest = max(slowest, (took, f"{kind} {target} seed={seed}"))
            exits[outcome.exit_code] += 1
            per_kind[kind][outcome.exit_code] += 1
            if outcome.exit_code == 2:
                counts["exit2"] += 1
                counts["exit2_located"] += outcome.located
            for problem in outcome.problems:
                name = problem.split(":")[0]
                counts[name] += 1
                examples.setdefault(name, f"{kind} {target} seed={seed}: {problem[:600]}")
            if (i + 1) % 500 == 0:
                print(f"  {i + 1} cases, {time.perf_counter() - started:.0f} s", flush=True)
        elapsed = time.perf_counter() - started
        long_slowest, long_over, long_cases = (0.0, ""), [], 0
        for shape in [] if args.no_long else LONG_SHAPES:
            for fill in LONG_FILL:
                for target in TARGETS:
                    name = f"long_line {target} {shape!r} of {fill!r}"
                    t0 = time.perf_counter()
                    signal.setitimer(signal.ITIMER_REAL, args.timeout)
                    try:
                        outcome = run_case(base, Path(tmp) / "case", "long_line", target,
                                           long_cases, line=long_line(shape, fill))
                    except Hang:
                        counts["hangs"] += 1
                        examples.setdefault("hang", name)
                        continue
                    finally:
                        signal.setitimer(signal.ITIMER_REAL, 0)
                    long_cases += 1
                    took = time.perf_counter() - t0
                    long_slowest = max(long_slowest, (took, name))
                    if took > args.long_bound:
                        long_over.append(f"{name}: {took:.2f} s")
                    for problem in outcome.problems:
                        counts[problem.split(":")[0]] += 1
                        examples.setdefault(problem.split(":")[0], f"{name}: {problem[:600]}")
    tracebacks = counts["traceback"] + counts["traceback printed"]
    located = counts["exit2_located"] / counts["exit2"] if counts["exit2"] else 1.0
    print(f"cases: {args.cases} in {elapsed:.1f} s ({elapsed / args.cases * 1000:.0f} ms each); "
          f"slowest {slowest[0]:.2f} s ({slowest[1]})")
    if long_cases:
        print(f"megabyte lines: {long_cases} cases; slowest {long_slowest[0]:.2f} s "
              f"({long_slowest[1][:120]}); over {args.long_bound:g} s: {len(long_over)}"
              + "".join(f"\n  {o[:160]}" for o in long_over[:10]))
    print(f"exit codes: {dict(sorted(exits.items()))}")
    print(f"tracebacks: {tracebacks}")
    print(f"hangs (> {args.timeout:g} s): {counts['hangs']}")
    print(f"exit-2 messages with file and line: {counts['exit2_located']}/{counts['exit2']} "
          f"({located:.1%})")
    others = {k: v for k, v in counts.items()
              if k not in ("exit2", "exit2_located", "hangs", "traceback", "traceback printed")}
    print(f"other broken invariants: {others or 0}")
    print("per mutation kind (exit code: count): " + json.dumps(
        {k: dict(sorted(v.items())) for k, v in sorted(per_kind.items())}))
    for name, example in examples.items():
        print(f"  e.g. {name}: {example}")
    sys.exit(1 if tracebacks or counts["hangs"] or others or located < 1 or long_over else 0)


if __name__ == "__main__":
    main()
