"""What one payment costs PostgreSQL, statement by statement (issue 17's CPU target: where it goes).

    python bench/pg_statements.py                  # 3,000 creates at c=32 on one postgres process (~1 min)
    python bench/pg_statements.py --spy prof.txt   # plus a py-spy profile of the paymock process (raw format)
    python bench/pg_statements.py --quick          # seconds; tests/perf/test_smoke.py runs it

A throwaway durable cluster (as bench/stores.py's) with pg_stat_statements loaded, one `paymock serve` on a
fresh database, a loopback receiver acknowledging every webhook. After 300 warm-up creates the statistics
are reset; then --count creates at c=32, waiting until every webhook is acknowledged. Per payment: each
statement's calls and execution time (pg_stat_statements, `track = all`, so statements PostgreSQL runs
itself, such as foreign-key checks, are listed too), commits, WAL records, bytes and syncs (pg_stat_wal),
and the CPU of paymock and of PostgreSQL. Calls per payment are exact; execution times are wall-clock
inside the server, so on a busy machine they include waiting for a core.

`--spy` needs py-spy (`pip install py-spy`): `py-spy record --format raw` of the paymock process during
the measured run, one line per stack with its sample count.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import cpu_seconds, load, paymock_proc, receiver, wait_acked
from bench.stores import _env, postgres_cpu_s

SETTINGS = "\nshared_preload_libraries = 'pg_stat_statements'\npg_stat_statements.track = 'all'\n"
OURS = "(SELECT oid FROM pg_database WHERE datname = current_database())"


def why_unavailable() -> str | None:
    """Why this cannot run here (one line), or None: a cluster must start, with pg_stat_statements."""
    from paymock.testing.postgres import find_bin_dir
    from paymock.testing.postgres import why_unavailable as no_cluster

    reason = no_cluster()
    if reason:
        return reason
    # next to the real pg_ctl: the one on PATH may be a link to a version's bin directory
    pg_config = (find_bin_dir() / "pg_ctl").resolve().parent / "pg_config"  # type: ignore[operator]
    try:
        libdir = subprocess.run([str(pg_config), "--pkglibdir"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return f"no {pg_config} to find PostgreSQL's modules with"
    if not (Path(libdir.strip()) / "pg_stat_statements.so").exists():
        return "PostgreSQL's pg_stat_statements module is not installed (a contrib package)"
    return None


def _stats(url: str) -> tuple[int, tuple[int, int, int]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        commits = conn.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        wal = conn.execute("SELECT wal_records, wal_bytes, wal_sync FROM pg_stat_wal").fetchone()
        return commits.fetchone()[0], tuple(int(v) for v in wal)  # type: ignore[index, arg-type, return-value]


def measure(count: int, spy: Path | None) -> dict[str, Any]:
    import psycopg

    from paymock.testing.postgres import PostgresCluster

    reason = why_unavailable()
    if reason:
        raise SystemExit(f"bench/pg_statements.py: {reason}")
    pg = PostgresCluster(durable=True)
    try:
        with (pg.data / "postgresql.conf").open("a") as conf:
            conf.write(SETTINGS)
        pg.start()
        url = pg.create_database("statements")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        with receiver() as rx:
            proc = paymock_proc("postgres", _env(url)).start(timeout=60)
            try:
                prefix = f"ps{int(time.time() * 1000)}_"
                load([proc.url], rx + "/hook", 300, 32, prefix + "w", times=False)  # warm-up: statements prepared
                wait_acked(rx, 300, timeout=60)
                httpx.post(rx + "/_reset")
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("SELECT pg_stat_statements_reset()")
                commits0, wal0 = _stats(url)
                pid = proc.process.pid  # type: ignore[union-attr]
                profiler = None
                if spy is not None:
                    command = ["py-spy", "record", "--native", "-r", "200", "-f", "raw", "-o", str(spy)]
                    profiler = subprocess.Popen([*command, "--pid", str(pid)], stdout=subprocess.DEVNULL)
                    time.sleep(1.0)  # attached
                cpu0, db0 = cpu_seconds(pid), postgres_cpu_s(pg.postmaster_pid())
                result = load([proc.url], rx + "/hook", count, 32, prefix, times=False)
                acked = wait_acked(rx, count, timeout=120)["acked_ids"]
                paymock_cpu, db_cpu = cpu_seconds(pid) - cpu0, postgres_cpu_s(pg.postmaster_pid()) - db0
                if profiler is not None:
                    profiler.send_signal(2)  # SIGINT: py-spy writes the profile and exits
                    profiler.wait(60)
                time.sleep(1.5)  # backends report their counts to the statistics within a second when idle
                commits1, wal1 = _stats(url)
            finally:
                proc.stop()
        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT calls, total_exec_time, regexp_replace(query, '\\s+', ' ', 'g') FROM pg_stat_statements "
                f"WHERE dbid = {OURS} AND query NOT LIKE '%%pg_stat%%' ORDER BY calls DESC, total_exec_time DESC"
            ).fetchall()
    finally:
        pg.remove()
    statements = [
        {"calls_per_payment": round(calls / count, 3), "exec_us_per_payment": round(ms * 1000 / count, 1), "query": q}
        for calls, ms, q in rows
        if calls / count >= 0.005
    ]
    return {
        "count": count,
        "creates_per_s": round(result["rate"], 1),
        "webhooks_acked": acked,
        "paymock_cpu_ms_per_payment": round(paymock_cpu * 1000 / count, 3),
        "postgres_cpu_ms_per_payment": round(db_cpu * 1000 / count, 3),
        "statements_per_payment": round(sum(calls for calls, _, _ in rows) / count, 2),
        "commits_per_payment": round((commits1 - commits0) / count, 2),
        "wal_records_per_payment": round((wal1[0] - wal0[0]) / count, 1),
        "wal_bytes_per_payment": round((wal1[1] - wal0[1]) / count),
        "wal_syncs_per_payment": round((wal1[2] - wal0[2]) / count, 2),
        "statements": statements,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="statements, commits and WAL per payment on the postgres store")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--count", type=int)
    parser.add_argument("--spy", type=Path, help="write a py-spy raw profile of the paymock process here")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.spy is not None and shutil.which("py-spy") is None:
        parser.error("--spy needs py-spy on PATH (pip install py-spy)")
    report = measure(args.count or (200 if args.quick else 3000), args.spy)
    for key, value in report.items():
        if key != "statements":
            print(f"{key}: {value}")
    for s in report["statements"]:
        print(f"{s['calls_per_payment']:6.2f}/payment {s['exec_us_per_payment']:8.1f} us/payment  {s['query'][:110]}")
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2))
    return 0 if report["webhooks_acked"] == report["count"] else 1


if __name__ == "__main__":
    sys.exit(main())
