"""Cold start to healthy, interleaved: two or more sides started in turn, many rounds, medians.

    python bench/ready.py python:/tmp/before/bin/python python:/tmp/after/bin/python --rounds 15
    python bench/ready.py "" baseline:connexion baseline:starlette

A side is what `bench/ab.py` takes: KEY=VALUE,... for the paymock process (the empty string is the
defaults), `python:PATH[,KEY=VALUE...]` for paymock served by another interpreter (a venv holding
another commit, or one with only `pip install .`, as the image has), or `baseline:connexion` /
`baseline:starlette`. Each round starts every side once, in an order that rotates, and times the process
start to the first 200 on /healthz (`bench.run.Proc`), and the CPU time (user + system) the server process
used until then, which the machine's other load moves less than wall time. Start-up differences of tens of milliseconds
drown in this machine's noise unless the sides take turns; the paired differences to the first side
(same round) are printed with the medians. Writes bench/results/ready-<time>.json.

    python bench/ready.py python:/tmp/before/bin/python python:/tmp/after/bin/python --instructions

`--instructions` also starts each side once under valgrind's callgrind (PYTHONHASHSEED=0) and records
the instructions its process ran, from exec to the first 200 on /healthz and a SIGTERM shutdown: a
count that the machine's load does not move (repeat runs agree within ~0.5%), for changes too small
to see in wall time here. Needs `valgrind` on PATH; ~30 s a side.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ab import parse_side, process_for
from bench.run import BENCH, machine


def quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4)
    return q1, q2, q3


def instructions(side: str) -> int:
    """Instructions the side's process runs from exec to ready and a SIGTERM shutdown, under callgrind."""
    python, env = parse_side(side)
    proc = process_for(side, python, env)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        proc.cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *proc.cmd]
        proc.env = {**proc.env, "PYTHONHASHSEED": "0"}  # the same dict and set orders each run
        try:
            proc.start(timeout=300)
        finally:
            proc.stop()
        summary = re.search(r"^summary: (\d+)", out.read_text(), re.MULTILINE)
    if summary is None:
        raise RuntimeError(f"no callgrind summary for {side or '(defaults)'}")
    return int(summary.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("sides", nargs="+", help="two or more sides, as bench/ab.py takes them")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", type=Path, help="default: bench/results/ready-<time>.json")
    parser.add_argument("--instructions", action="store_true", help="also count instructions under callgrind")
    args = parser.parse_args(argv)
    if len(args.sides) < 2:
        parser.error("give at least two sides")
    if args.instructions and shutil.which("valgrind") is None:
        parser.error("--instructions needs valgrind on PATH (apt-get install valgrind)")
    starts: dict[int, list[float]] = {i: [] for i in range(len(args.sides))}
    cpus: dict[int, list[float]] = {i: [] for i in range(len(args.sides))}
    for round_no in range(args.rounds):
        order = [(round_no + k) % len(args.sides) for k in range(len(args.sides))]
        for i in order:
            python, env = parse_side(args.sides[i])
            proc = process_for(args.sides[i], python, env)
            try:
                proc.start()
                starts[i].append(proc.ready_s)
                cpus[i].append(proc.ready_cpu_s)
            finally:
                proc.stop()
        row = "  ".join(f"{starts[i][-1]:.3f}" for i in range(len(args.sides)))
        print(f"round {round_no + 1}/{args.rounds}: {row}", flush=True)
    rows: list[dict[str, Any]] = []
    counts = [instructions(side) for side in args.sides] if args.instructions else []
    for i, side in enumerate(args.sides):
        q1, med, q3 = quartiles(starts[i])
        diffs = [b - a for a, b in zip(starts[0], starts[i], strict=True)]
        cpu = statistics.median(cpus[i])
        rows.append(
            {
                "side": side or "(defaults)",
                "median_s": round(med, 3),
                "iqr_s": [round(q1, 3), round(q3, 3)],
                "paired_diff_to_first_s": round(statistics.median(diffs), 3),
                "starts_s": [round(s, 3) for s in starts[i]],
                "cpu_median_s": round(cpu, 3),
                "cpu_ratio_to_first": round(cpu / statistics.median(cpus[0]), 3),
                "cpu_s": [round(c, 3) for c in cpus[i]],
            }
        )
        if counts:
            rows[-1]["instructions"] = counts[i]
            rows[-1]["instructions_ratio_to_first"] = round(counts[i] / counts[0], 4)
    print(f"\n{'side':<50} {'median':>8} {'IQR':>15} {'vs first':>9} {'CPU':>7} {'CPU/first':>9}")
    for row in rows:
        iqr = f"{row['iqr_s'][0]:.3f}-{row['iqr_s'][1]:.3f}"
        line = f"{row['side'][-50:]:<50} {row['median_s']:>8.3f} {iqr:>15} {row['paired_diff_to_first_s']:>+9.3f}"
        line += f" {row['cpu_median_s']:>7.3f} {row['cpu_ratio_to_first']:>8.3f}x"
        if counts:
            line += f" {row['instructions'] / 1e6:>9.1f} M instr ({row['instructions_ratio_to_first']:.3f}x)"
        print(line)
    out = args.out or BENCH / "results" / f"ready-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"machine": machine(), "rounds": args.rounds, "sides": rows}, indent=2) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
