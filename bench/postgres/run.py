"""What docs/scaling.md's PostgreSQL plan costs the database, measured with pgbench. No paymock involved.

Needs PostgreSQL (server, psql, pgbench) on this machine, listening on loopback only. On Debian 12
(PostgreSQL 15), as root:

    apt-get update && apt-get install -y postgresql postgresql-contrib
    mkdir -p /tmp/pgdata && chown postgres /tmp/pgdata
    su postgres -c "/usr/lib/postgresql/15/bin/initdb -D /tmp/pgdata -A trust -U postgres"
    su postgres -c "/usr/lib/postgresql/15/bin/pg_ctl -D /tmp/pgdata -l /tmp/pgdata.log -w start \
        -o '-k /tmp -c listen_addresses=127.0.0.1 -p 55432'"

Then, from the repository root:

    python bench/postgres/run.py --port 55432          # ~7 min: 3 rounds x 11 runs of 10 s, a lease check
    python bench/postgres/run.py --port 55432 --quick  # ~35 s: 1 round of 2 s runs, 10k rows

and stop the server: su postgres -c "/usr/lib/postgresql/15/bin/pg_ctl -D /tmp/pgdata stop".

Each round: the schema (schema.sql) dropped and made anew with --rows payments and deliveries
(prefill.sql), then every pgbench script (-n -M prepared, -T <= 10 s, so every load loop stops by
itself) at c=1 and c=32 (-j 2), the claim runs on a fresh backlog each. Rounds interleave the
configurations; medians over rounds with min-max. Then a lease check (claim_check.sql, and
the same script without its lease filter as its negative control). Writes bench/results/postgres-<time>.json and
prints a table. Refuses any host but loopback or a local Unix socket directory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results"
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
MAX_SECONDS = 10

# (name, script, clients, extra server options, prefill mode)
CONFIGS: list[tuple[str, str, int, str, str]] = [
    ("create c=1", "create.sql", 1, "", "none"),
    ("create c=32", "create.sql", 32, "", "none"),
    ("create c=1 sync off", "create.sql", 1, "-c synchronous_commit=off", "none"),
    ("create c=32 sync off", "create.sql", 32, "-c synchronous_commit=off", "none"),
    ("settle c=1", "settle.sql", 1, "", "none"),
    ("settle c=32", "settle.sql", 32, "", "none"),
    ("payment c=1", "payment.sql", 1, "", "none"),
    ("payment c=32", "payment.sql", 32, "", "none"),
    ("counter c=32", "counter.sql", 32, "", "none"),
    ("claim c=4", "claim.sql", 4, "", "backlog"),
    ("claim c=32", "claim.sql", 32, "", "backlog"),
]

SETTINGS = (
    "server_version",
    "synchronous_commit",
    "fsync",
    "wal_sync_method",
    "full_page_writes",
    "commit_delay",
    "shared_buffers",
    "max_wal_size",
    "checkpoint_timeout",
    "autovacuum",
    "max_connections",
)


class Pg:
    """psql and pgbench against one loopback server; the environment cannot redirect them."""

    def __init__(self, host: str, port: int, user: str, dbname: str) -> None:
        self.args = ["-h", host, "-p", str(port), "-U", user]
        self.dbname = dbname
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}

    def psql(self, sql: str | None = None, *, file: str | None = None, db: str | None = None, **var: Any) -> str:
        cmd = ["psql", *self.args, "-d", db or self.dbname, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"]
        for k, v in var.items():
            cmd += ["-v", f"{k}={v}"]
        cmd += ["-f", str(HERE / file)] if file else ["-c", sql or ""]
        done = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=300)
        if done.returncode:
            raise SystemExit(f"psql failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def pgbench(self, script: str, clients: int, seconds: int, rows: int, options: str = "") -> dict[str, Any]:
        cmd = [
            "pgbench", *self.args, "-n", "-M", "prepared", "-r",
            "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds),
            "-D", f"rows={rows}", "-f", str(HERE / script), self.dbname,
        ]  # fmt: skip
        env = dict(self.env, PGOPTIONS=options) if options else self.env
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 120)
        if done.returncode:
            raise SystemExit(f"pgbench {script} failed: {done.stderr.strip()[-2000:]}")
        return parse_pgbench(done.stdout)


def parse_pgbench(out: str) -> dict[str, Any]:
    def num(pattern: str) -> float:
        m = re.search(pattern, out)
        if not m:
            raise SystemExit(f"unexpected pgbench output, no {pattern!r}:\n{out}")
        return float(m.group(1))

    statements = []
    lines = out.splitlines()
    if "statement latencies in milliseconds and failures:" in lines:
        for line in lines[lines.index("statement latencies in milliseconds and failures:") + 1 :]:
            m = re.match(r"\s+([\d.]+)\s+(\d+)\s+(.*)", line)
            if m and not m.group(3).startswith("\\set"):
                statements.append({"statement": m.group(3).strip(), "ms": float(m.group(1))})
    return {
        "tps": num(r"tps = ([\d.]+) \(without initial connection time\)"),
        "latency_avg_ms": num(r"latency average = ([\d.]+) ms"),
        "transactions": int(num(r"number of transactions actually processed: (\d+)")),
        "failed": int(num(r"number of failed transactions: (\d+)")),
        "statements": statements,
    }


def reset(pg: Pg, rows: int, due: str) -> None:
    pg.psql(file="schema.sql")
    pg.psql(file="prefill.sql", rows=rows, due=due)


def fsync_probe() -> dict[str, Any] | None:
    """pg_test_fsync's one-8kB-write fdatasync rate: the disk's ceiling for serial commits."""
    found = shutil.which("pg_test_fsync")
    if not found and shutil.which("pg_config"):
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
        candidate = Path(bindir) / "pg_test_fsync"
        found = str(candidate) if candidate.exists() else None
    if not found:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [found, "-s", "1", "-f", str(Path(tmp) / "probe")], capture_output=True, text=True, timeout=120
        ).stdout
    section = out.partition("using one 8kB write:")[2]
    m = re.search(r"^\s*fdatasync\s+([\d.]+) ops/sec\s+(\d+) usecs/op", section, re.MULTILINE)
    if not m:
        return None
    return {
        "fdatasync_ops_per_s": float(m.group(1)),
        "fdatasync_us": int(m.group(2)),
        "note": "pg_test_fsync -s 1, one 8kB write, probe file in the system temp dir of the machine running run.py",
    }


LEASE_FILTER = "AND (claimed_until IS NULL OR claimed_until < now())"


def without_lease_filter(script: Path, folder: Path) -> Path:
    """The lease check's negative control: `script` with its one lease-filter line removed, nothing
    else (the query as first planned), written to `folder` as claim_check_nolease.sql."""
    lines = script.read_text().splitlines(keepends=True)
    kept = [line for line in lines if line.strip() != LEASE_FILTER]
    if len(kept) != len(lines) - 1:
        raise SystemExit(f"{script.name}: expected exactly one line {LEASE_FILTER!r}")
    control = folder / "claim_check_nolease.sql"
    control.write_text("".join(kept))
    return control


def lease_check(pg: Pg, rows: int, script: Path, seconds: int) -> dict[str, Any]:
    """Claims and releases logged with clock_timestamp(); a delivery claimed again before its previous
    claim was released (or whose previous claim never was: its claimer lost it) was held twice."""
    reset(pg, rows, "backlog")
    bench = pg.pgbench(str(script), 32, seconds, rows)
    claims, released = pg.psql("SELECT count(*), count(released_at) FROM claim_log").split("|")
    overlapping = pg.psql(
        """SELECT count(*) FROM (
             SELECT claimed_at, lag(claimed_at) OVER w AS prev_claimed, lag(released_at) OVER w AS prev_released
               FROM claim_log WINDOW w AS (PARTITION BY delivery_id ORDER BY claimed_at)) s
            WHERE prev_claimed IS NOT NULL AND (prev_released IS NULL OR claimed_at < prev_released)"""
    )
    return {
        "script": script.name,
        "clients": 32,
        "seconds": seconds,
        "claim_cycles": bench["transactions"],
        "rows_claimed": int(claims),
        "rows_released": int(released),
        "claimed_while_held": int(overlapping),
    }


def spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3)}


def summarize(name: str, script: str, clients: int, options: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "name": name,
        "script": script,
        "clients": clients,
        "threads": min(clients, 2),
        "server_options": options or None,
        "tps": spread([r["tps"] for r in runs]),
        "latency_avg_ms": spread([r["latency_avg_ms"] for r in runs]),
        "failed": sum(r["failed"] for r in runs),
        "statements_ms_median": [
            {"statement": s["statement"], "ms": round(statistics.median(r["statements"][i]["ms"] for r in runs), 3)}
            for i, s in enumerate(runs[0]["statements"])
        ],
        "runs": runs,
    }
    if "rows" in runs[0]:
        summary["rows_per_s"] = spread([r["rows_per_s"] for r in runs])
        summary["rows_per_claim"] = spread([r["rows"] / max(r["transactions"], 1) for r in runs])
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1", help="127.0.0.1, ::1, localhost or a local Unix socket directory")
    ap.add_argument("--port", type=int, default=55432)
    ap.add_argument("--user", default="postgres")
    ap.add_argument("--dbname", default="paymock_bench", help="made if missing; its tables are dropped and made")
    ap.add_argument("--seconds", type=int, default=MAX_SECONDS, help=f"per pgbench run, at most {MAX_SECONDS}")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rows", type=int, default=100_000, help="prefilled payments and deliveries")
    ap.add_argument("--quick", action="store_true", help="1 round of 2 s runs on 10k rows")
    ap.add_argument("--no-fsync-probe", action="store_true")
    ap.add_argument("--out", type=Path, help="default bench/results/postgres-<time>.json")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.repeats, args.rows = 2, 1, 10_000
    if not (args.host in LOOPBACK or (args.host.startswith("/") and Path(args.host).is_dir())):
        print(f"refusing host {args.host!r}: loopback (127.0.0.1, ::1, localhost) or a Unix socket dir only")
        return 2
    if not 1 <= args.seconds <= MAX_SECONDS:
        print(f"--seconds must be 1..{MAX_SECONDS}")
        return 2
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", args.dbname):
        print("--dbname: lower-case letters, digits and _ only")
        return 2
    for tool in ("psql", "pgbench"):
        if not shutil.which(tool):
            print(f"{tool} not found: apt-get install -y postgresql postgresql-contrib (see this file's docstring)")
            return 2

    pg = Pg(args.host, args.port, args.user, args.dbname)
    if not pg.psql(f"SELECT 1 FROM pg_database WHERE datname = '{args.dbname}'", db="postgres"):
        pg.psql(f"CREATE DATABASE {args.dbname}", db="postgres")
    settings = {s: pg.psql(f"SHOW {s}") for s in SETTINGS}
    if int(settings["max_connections"]) < 40:
        print("max_connections < 40: start the server with -c max_connections=100")
        return 2

    started = time.time()
    load_before = os.getloadavg()
    fsync = None if args.no_fsync_probe else fsync_probe()
    runs: dict[str, list[dict[str, Any]]] = {c[0]: [] for c in CONFIGS}
    for rnd in range(args.repeats):
        prefilled = None
        for name, script, clients, options, due in CONFIGS:
            if due == "backlog" or prefilled != due:  # a claim run always gets a fresh backlog
                reset(pg, args.rows, due)
                prefilled = due
            pg.psql("CHECKPOINT")
            result = pg.pgbench(script, clients, args.seconds, args.rows, options)
            if script == "claim.sql":
                result["rows"] = int(pg.psql("SELECT coalesce(sum(started), 0) FROM deliveries"))
                result["rows_per_s"] = round(result["rows"] / args.seconds, 1)
            if script == "counter.sql":
                result["counter_used"] = int(pg.psql("SELECT used FROM scenario_counters WHERE name = 'x'"))
            result["round"] = rnd + 1
            runs[name].append(result)
            tps, lat = result["tps"], result["latency_avg_ms"]
            print(f"round {rnd + 1} {name:24} {tps:10.1f} tps {lat:8.3f} ms", flush=True)
    check_seconds = min(5, args.seconds)
    with tempfile.TemporaryDirectory() as folder:
        checked = HERE / "claim_check.sql"
        control = without_lease_filter(checked, Path(folder))
        checks = [lease_check(pg, args.rows, script, check_seconds) for script in (checked, control)]
    pg.psql(file="schema.sql")  # leave no data behind

    cpu = next((ln.split(":", 1)[1].strip() for ln in _cpuinfo() if ln.startswith("model name")), None)
    report = {
        "kind": "postgres-plan",
        "when": time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(started)),
        "duration_s": round(time.time() - started, 1),
        "machine": {
            "nproc": os.cpu_count(),
            "cpu": cpu,
            "kernel": platform.release(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "note": "server and pgbench on the same machine, sharing its cores; loopback TCP",
        },
        "server": settings,
        "connection": "unix socket" if args.host.startswith("/") else args.host,
        "fsync_probe": fsync,
        "params": {"seconds": args.seconds, "repeats": args.repeats, "rows": args.rows, "quick": args.quick},
        "results": [summarize(n, s, c, o, runs[n]) for n, s, c, o, _ in CONFIGS],
        "lease_check": checks,
    }
    RESULTS.mkdir(exist_ok=True)
    out = args.out or RESULTS / f"postgres-{time.strftime('%Y%m%d-%H%M%S', time.localtime(started))}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"wrote {out.name}")
    return 0


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def print_table(report: dict[str, Any]) -> None:
    print("\n| run | tps median (min-max) | latency avg ms median (min-max) | rows/s |")
    print("|---|---|---|---|")
    for r in report["results"]:
        t, lat = r["tps"], r["latency_avg_ms"]
        rows = r.get("rows_per_s")
        rows_s = f"{rows['median']:,.0f} ({rows['min']:,.0f}-{rows['max']:,.0f})" if rows else ""
        print(
            f"| {r['name']} | {t['median']:,.0f} ({t['min']:,.0f}-{t['max']:,.0f}) | "
            f"{lat['median']:.2f} ({lat['min']:.2f}-{lat['max']:.2f}) | {rows_s} |"
        )
    for c in report["lease_check"]:
        print(
            f"lease check {c['script']}: {c['claim_cycles']} claim cycles, {c['rows_claimed']} rows claimed, "
            f"{c['claimed_while_held']} claimed while another claimer held them"
        )
    if report["fsync_probe"]:
        print(f"pg_test_fsync: fdatasync {report['fsync_probe']['fdatasync_ops_per_s']:,.0f}/s")


if __name__ == "__main__":
    sys.exit(main())
