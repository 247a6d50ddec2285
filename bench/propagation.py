"""How soon a change made through one process is in force on another (issue 17: within 1 s).

    python bench/propagation.py           # 20 trials of each change (~1 min)
    python bench/propagation.py --quick   # 3 of each; tests/perf/test_smoke.py runs it

Two `paymock serve` processes, A and B, on one database of a throwaway PostgreSQL cluster (durable
settings). Each trial makes one change through A and, from the moment A answered it, asks B every
5 ms until B answers with the change: the active scenario set, a run-time scenario stored, a session
opened, a session ended. How it propagates: each process polls the database's state version every
0.25 s (server/provider.py REFRESH_S) and reloads sessions and the global book when it moved; a
random pause before each change spreads the trials over that beat. Payments and deliveries are read
from the database on every call, so they need no propagation at all.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import BENCH, machine, paymock_proc
from bench.stores import cluster

POLL_S = 0.005
GIVE_UP_S = 5.0
ACTIVE = ("declined", "default")  # two shipped scenarios, set in turn
# A random pause before each change: B polls on its own 0.25 s beat, and a change made right after B saw
# the previous one would always land at the same point of that beat (its worst) without it.
JITTER_S = 0.3


def _seen_after(b: httpx.Client, path: str, ok: Callable[[httpx.Response], bool]) -> float:
    """Seconds until B's answer to GET `path` satisfies `ok` (asked every POLL_S); GIVE_UP_S + 1 if never."""
    started = time.monotonic()
    while time.monotonic() - started < GIVE_UP_S:
        if ok(b.get(path)):
            return time.monotonic() - started
        time.sleep(POLL_S)
    return GIVE_UP_S + 1


def _status(code: int) -> Callable[[httpx.Response], bool]:
    return lambda r: r.status_code == code


def _active(name: str) -> Callable[[httpx.Response], bool]:
    return lambda r: r.status_code == 200 and r.json()["name"] == name


def trials(a: httpx.Client, b: httpx.Client, n: int, rng: random.Random) -> dict[str, list[float]]:
    seen: dict[str, list[float]] = {
        "active scenario": [],
        "run-time scenario": [],
        "session opened": [],
        "session ended": [],
    }
    for i in range(n):
        name = ACTIVE[i % 2]
        time.sleep(rng.uniform(0, JITTER_S))
        a.put("/mock/v1/active-scenario", json={"name": name}).raise_for_status()
        seen["active scenario"].append(_seen_after(b, "/mock/v1/active-scenario", _active(name)))

        scenario = f"prop-{i}"
        time.sleep(rng.uniform(0, JITTER_S))
        a.put(
            f"/mock/v1/scenarios/{scenario}",
            json={"name": scenario, "description": "propagation trial", "payment": {"outcome": "fail"}},
        ).raise_for_status()
        seen["run-time scenario"].append(_seen_after(b, f"/mock/v1/scenarios/{scenario}", _status(200)))

        time.sleep(rng.uniform(0, JITTER_S))
        opened = a.post("/mock/v1/sessions", json={"label": f"prop {i}"})
        opened.raise_for_status()
        path = f"/mock/v1/sessions/{opened.json()['session_id']}"
        seen["session opened"].append(_seen_after(b, path, _status(200)))
        time.sleep(rng.uniform(0, JITTER_S))
        a.delete(path).raise_for_status()
        seen["session ended"].append(_seen_after(b, path, _status(404)))
    return seen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="propagation of changes between two processes on one database")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--trials", type=int)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    n = args.trials or (3 if args.quick else 20)
    env = {"PAYMOCK_ACCESS_LOG": "false", "LOG_LEVEL": "WARNING"}
    with cluster() as pg:
        url = pg.create_database("propagation")
        procs = [paymock_proc(name, {**env, "PAYMOCK_STORE": url}).start(timeout=60) for name in ("A", "B")]
        try:
            with (
                httpx.Client(base_url=procs[0].url, timeout=10) as a,
                httpx.Client(base_url=procs[1].url, timeout=10) as b,
            ):
                seen = trials(a, b, n, random.Random(17))
        finally:
            for proc in procs:
                proc.stop()
    summary: list[dict[str, Any]] = []
    for change, values in seen.items():
        ordered = sorted(values)
        summary.append(
            {
                "change": change,
                "trials": len(values),
                "p50_ms": round(statistics.median(values) * 1000, 1),
                "max_ms": round(ordered[-1] * 1000, 1),
                "within_1s": sum(v <= 1.0 for v in values),
            }
        )
    for row in summary:
        print(json.dumps(row))
    report = {"machine": machine(), "trials": n, "summary": summary, "seen_s": seen}
    name = f"propagation-{time.strftime('%Y%m%d-%H%M%S')}{'-quick' if args.quick else ''}.json"
    out = args.out or BENCH / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    return 0 if all(row["within_1s"] == row["trials"] for row in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
