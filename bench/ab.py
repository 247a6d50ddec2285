"""A/B of two paymock configurations, interleaved so a noisy machine hits both alike.

    python bench/ab.py PAYMOCK_GC=tuned PAYMOCK_GC=default          # 3 rounds x 10,000 creates at c=32
    python bench/ab.py PAYMOCK_GC=tuned PAYMOCK_GC=default --concurrency 1 --count 2000
    python bench/ab.py PAYMOCK_ACCESS_LOG=true PAYMOCK_ACCESS_LOG=false --rounds 5 --count 5000

Each side is a comma-separated list of KEY=VALUE for the paymock process, or `baseline:connexion` /
`baseline:starlette` for run.py's baselines (no webhooks), to get their ratio with less noise. A side may
start with `python:PATH` (then `,KEY=VALUE...`): paymock served by that interpreter, e.g. a venv holding an
earlier commit's paymock, for a before/after of a change:

    python -m venv /tmp/before --system-site-packages && git worktree add /tmp/before-src <commit>
    /tmp/before/bin/pip install --no-deps /tmp/before-src
    /tmp/before/bin/python -c "import paymock; print(paymock.__file__)"   # the venv's copy, not the checkout
    python bench/ab.py python:/tmp/before/bin/python PAYMOCK_GC=tuned

Per round, for each side in turn (the order alternates): a fresh `paymock serve`, cold start to healthy, 500 warm-up
creates, then `--count` creates at c=32 (or `--concurrency`) with every webhook counted by the loopback receiver
(`bench.run.measured_run`). Prints the medians per side and writes bench/results/ab-<time>.json.
With --gc-probe each server also reports its garbage-collector pauses over its whole life
(`bench/gcprobe/sitecustomize.py`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import BASELINE_APPS, BENCH, PY, Proc, load, measured_run, paymock_proc, receiver, table, uvicorn_proc

GC_PROBE = BENCH / "gcprobe"
FIGURES = ("ready_s", "rate", "p50_ms", "p99_ms", "server_cpu_ms_per_req", "webhook_p50_ms", "webhook_p99_ms")


BASELINES = {f"baseline:{name}": app for name, app in BASELINE_APPS.items()}


def parse_side(text: str) -> tuple[str, dict[str, str]]:
    """(interpreter, environment) of one side."""
    if text in BASELINES:
        return PY, {}
    python, items = PY, [item for item in text.split(",") if item]
    if items and items[0].startswith("python:"):
        python = os.path.abspath(items.pop(0)[len("python:") :])  # servers run with cwd=ROOT
    return python, dict(kv.split("=", 1) for kv in items)


def process_for(name: str, python: str, env: dict[str, str]) -> Proc:
    return uvicorn_proc(name, BASELINES[name]) if name in BASELINES else paymock_proc(name, env, python)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    side = "[python:PATH,]KEY=VALUE[,KEY=VALUE...] or baseline:connexion|starlette for side"
    parser.add_argument("a", help=f"{side} A")
    parser.add_argument("b", help=f"{side} B")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--gc-probe", action="store_true", help="record collector pauses (bench/gcprobe)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.a == args.b:
        parser.error("the two sides are the same")
    sides = {args.a: parse_side(args.a), args.b: parse_side(args.b)}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    all_delivered = True
    with receiver() as rx:
        for i in range(args.rounds):
            order = list(sides) if i % 2 == 0 else list(reversed(sides))
            for name in order:
                python, side_env = sides[name]
                env = dict(side_env)
                webhooks = name not in BASELINES
                probe_out = None
                if args.gc_probe and webhooks:
                    fd, path = tempfile.mkstemp(suffix=".json")
                    os.close(fd)
                    probe_out = Path(path)
                    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(GC_PROBE), os.environ.get("PYTHONPATH")) if p)
                    env["PAYMOCK_GC_PROBE_OUT"] = str(probe_out)
                server = process_for(name, python, env).start()
                try:
                    load(server.url, rx + "/hook", 500, 32, f"ab{i}w_", times=False)
                    row = measured_run(server, rx, args.count, args.concurrency, f"ab{i}_", webhooks=webhooks)
                finally:
                    server.stop()
                row["ready_s"] = round(server.ready_s, 3)
                if probe_out is not None:
                    row["gc"] = json.loads(probe_out.read_text() or "null")
                    probe_out.unlink()
                all_delivered = all_delivered and row["ok"] == args.count and row.get("webhooks_all_delivered", True)
                runs[name].append(row)
                print(json.dumps({k: row[k] for k in ("target", *FIGURES, "gc") if k in row}), flush=True)
    medians = [
        {
            "side": name,
            "runs": len(rows),
            **{f: round(statistics.median(r[f] for r in rows), 3) for f in FIGURES if f in rows[0]},
        }
        for name, rows in runs.items()
    ]
    print(table(medians, ["side", "runs", *FIGURES]))
    a, b = medians
    print(f"server CPU per create, B / A: {b['server_cpu_ms_per_req'] / a['server_cpu_ms_per_req']:.2f}")
    print(f"creates/s, A / B: {a['rate'] / b['rate']:.2f}")
    print(f"every create answered 200 and every webhook acknowledged: {all_delivered}")
    out = args.out or BENCH / "results" / f"ab-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "count": args.count,
        "concurrency": args.concurrency,
        "medians": medians,
        "runs": runs,
    }
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {out}")
    return 0 if all_delivered else 1


if __name__ == "__main__":
    raise SystemExit(main())
