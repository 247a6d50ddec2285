"""Stores compared (issue 17): memory, sqlite and postgres, one process and two on one database.

    python bench/stores.py               # 3 interleaved rounds of 6,000 creates each side (~6 min)
    python bench/stores.py --quick       # seconds; tests/perf/test_smoke.py runs it for correctness only

Each side: fresh `paymock serve` process(es) on 127.0.0.1 (postgres: a fresh database on one throwaway
cluster started here, see paymock.testing.postgres), 300 warm-up creates, then --count creates at c=32
from `loadgen.py` (round-robin over the processes), waiting until the receiver has acknowledged every
webhook. Measured per side:
- creates/s (client side, every create answered 200), and every webhook acknowledged;
- CPU per payment: the paymock processes' CPU *and* PostgreSQL's (the postmaster, its live backends and
  the children it has reaped: cutime/cstime), from create sent to its webhook acknowledged, divided by
  the payments. Memory and sqlite have no database process: theirs is paymock's alone.
Sides run interleaved, round by round, and each is given as a ratio to memory's figure in the same
round (medians over rounds): these machines are shared and noisy, ratios much less so.

The PostgreSQL cluster runs with durable commits (fsync and synchronous_commit on, as a real
deployment's), unlike the test suite's (tests only need speed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import BENCH, CLK_TCK, Proc, cpu_seconds, load, machine, paymock_proc, receiver, table, wait_acked

SIDES = ("memory", "sqlite", "postgres", "postgres x2")


def _stat_fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def postgres_cpu_s(postmaster_pid: int) -> float:
    """CPU of the whole PostgreSQL server: the postmaster, its live children, and the children it has reaped
    (cutime + cstime: a backend that ended took its CPU time with it otherwise)."""
    own = _stat_fields(postmaster_pid)
    total = sum(int(v) for v in own[11:15])  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat_fields(int(entry.name))
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == postmaster_pid:  # ppid
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


@contextlib.contextmanager
def cluster() -> Iterator[Any]:
    from paymock.testing.postgres import PostgresCluster, why_unavailable

    reason = why_unavailable()
    if reason:
        raise SystemExit(f"bench/stores.py: {reason}")
    pg = PostgresCluster(durable=True)
    try:
        yield pg.start()
    finally:
        pg.remove()


def _env(store: str) -> dict[str, str]:
    return {
        "PAYMOCK_STORE": store,
        "PAYMOCK_CALLBACK_HOSTS": "127.0.0.1",
        "PAYMOCK_ACCESS_LOG": "false",
        "LOG_LEVEL": "WARNING",
    }


def one_side(side: str, pg: Any, rx: str, count: int, tmp: Path, round_no: int) -> dict[str, Any]:
    if side == "memory":
        store = "memory"
    elif side == "sqlite":
        store = f"sqlite:{tmp / f'stores-{round_no}.db'}"
    else:
        store = pg.create_database(f"bench_{side.replace(' ', '_')}_{round_no}")
    processes = 2 if side.endswith("x2") else 1
    procs: list[Proc] = []
    try:
        for n in range(processes):
            procs.append(paymock_proc(f"{side}#{n}", _env(store)).start(timeout=60))
        urls = [p.url for p in procs]
        prefix = f"st{round_no}_{side.replace(' ', '')}_{int(time.time() * 1000)}_"
        load(urls, rx + "/hook", 300, 32, prefix + "w", times=False)  # warm-up
        wait_acked(rx, 300, timeout=60)
        with httpx.Client(timeout=5) as client:
            client.post(rx + "/_reset")
        pids = [p.process.pid for p in procs if p.process is not None]
        postmaster = pg.postmaster_pid() if side.startswith("postgres") else None
        cpu0 = sum(cpu_seconds(pid) for pid in pids)
        db0 = postgres_cpu_s(postmaster) if postmaster else 0.0
        started = time.monotonic()
        result = load(urls, rx + "/hook", count, 32, prefix, times=False)
        stats = wait_acked(rx, count, timeout=120)
        settled_s = time.monotonic() - started
        paymock_cpu = sum(cpu_seconds(pid) for pid in pids) - cpu0
        db_cpu = (postgres_cpu_s(postmaster) - db0) if postmaster else 0.0
        return {
            "side": side,
            "round": round_no,
            "count": count,
            "answered_200": result["statuses"].get("200", 0),
            "non_200": {k: v for k, v in result["statuses"].items() if k != "200"},
            "client_errors": result["errors"],
            "webhooks_acked": stats["acked_ids"],
            "creates_per_s": round(result["rate"], 1),
            "settled_s": round(settled_s, 2),
            "paymock_cpu_ms_per_payment": round(paymock_cpu * 1000.0 / count, 3),
            "postgres_cpu_ms_per_payment": round(db_cpu * 1000.0 / count, 3),
            "cpu_ms_per_payment": round((paymock_cpu + db_cpu) * 1000.0 / count, 3),
        }
    finally:
        for proc in procs:
            proc.stop()
        if side.startswith("postgres"):
            pg.drop_database(store)


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_round: dict[int, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_round.setdefault(row["round"], {})[row["side"]] = row
    summary = []
    for side in SIDES:
        mine = [r[side] for r in by_round.values() if side in r]
        if not mine:
            continue
        cpu_ratio = [r[side]["cpu_ms_per_payment"] / r["memory"]["cpu_ms_per_payment"] for r in by_round.values()]
        rate_ratio = [r[side]["creates_per_s"] / r["memory"]["creates_per_s"] for r in by_round.values()]
        summary.append(
            {
                "side": side,
                "creates_per_s": round(statistics.median(r["creates_per_s"] for r in mine), 1),
                "rate_vs_memory": round(statistics.median(rate_ratio), 3),
                "cpu_ms_per_payment": round(statistics.median(r["cpu_ms_per_payment"] for r in mine), 3),
                "of_which_postgres": round(statistics.median(r["postgres_cpu_ms_per_payment"] for r in mine), 3),
                "cpu_vs_memory": round(statistics.median(cpu_ratio), 3),
                "all_200_all_acked": all(
                    r["answered_200"] == r["count"] and r["webhooks_acked"] == r["count"] for r in mine
                ),
            }
        )
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="memory vs sqlite vs postgres (one and two processes)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--count", type=int)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    count = args.count or (300 if args.quick else 6000)
    rounds = args.rounds or (1 if args.quick else 3)
    rows: list[dict[str, Any]] = []
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, cluster() as pg, receiver() as rx:
        for round_no in range(rounds):
            order = SIDES if round_no % 2 == 0 else tuple(reversed(SIDES))  # no side always first or last
            for side in order:
                rows.append(one_side(side, pg, rx, count, Path(tmp), round_no))
                print(json.dumps(rows[-1]), flush=True)
    summary = summarize(rows)
    print(table(summary, list(summary[0])))
    report = {"machine": machine(), "count": count, "rounds": rounds, "summary": summary, "runs": rows}
    name = f"stores-{time.strftime('%Y%m%d-%H%M%S')}{'-quick' if args.quick else ''}.json"
    out = args.out or BENCH / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    ok = all(s["all_200_all_acked"] for s in summary)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
