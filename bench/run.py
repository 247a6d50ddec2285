"""The benchmark: paymock as a real process against baselines it starts itself, one command.

    python bench/run.py            # full run (~4 min): 20k creates at c=32, listings up to 100k
    python bench/run.py --quick    # seconds; what tests/perf runs (correctness only asserted there)

Measures cold start to healthy, create throughput and latency at c=1 and c=32 (every webhook
delivered and counted by a loopback receiver), webhook latency (create sent -> webhook received),
server CPU per request, listing latency at 1k/10k/100k payments, RSS after the fill. Prints a
table, writes bench/results/<time>.json (and latest.json). Everything on 127.0.0.1, every loop
bounded, every process it starts is stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100.0 * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


@dataclass
class Proc:
    name: str
    cmd: list[str]
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    ready_s: float = 0.0
    ready_cpu_s: float = 0.0  # the server's own CPU time (user + system) to its first 200: less noisy than wall time
    log: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0, port: int | None = None) -> Proc:
        """Start it on `port` (again, after a kill), or on a free one."""
        self.port = port or free_port()
        cmd = [c.replace("{port}", str(self.port)) for c in self.cmd]
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        started = time.monotonic()
        self.process = subprocess.Popen(
            cmd, env={**os.environ, **self.env}, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = started + timeout
        with httpx.Client(timeout=0.5) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited: {self.output()}")
                try:
                    if client.get(self.url + "/healthz").status_code == 200:
                        self.ready_s = time.monotonic() - started
                        self.ready_cpu_s = cpu_seconds(self.process.pid)
                        return self
                except httpx.HTTPError:
                    time.sleep(0.005)
        self.stop()
        raise RuntimeError(f"{self.name} not ready in {timeout} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log is not None:
            self.log.close()
            self.log = None

    def output(self) -> str:
        if self.log is None:
            return ""
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")[-4000:]


@contextlib.contextmanager
def receiver(refuse: float = 0.0) -> Iterator[str]:
    proc = subprocess.Popen(
        [PY, str(BENCH / "receiver.py"), "--refuse", str(refuse), "--max-seconds", "3600"],
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()
        if not line.startswith("PORT "):
            raise RuntimeError(f"receiver did not start: {line!r}")
        yield f"http://127.0.0.1:{line.split()[1]}"
    finally:
        proc.terminate()
        proc.wait(10)


def load(
    url: str | list[str],
    callback: str,
    count: int,
    concurrency: int,
    prefix: str,
    times: bool = True,
    retries: int = 0,
) -> dict[str, Any]:
    """`loadgen.py` in its own process; several URLs share the load round-robin (see its docstring)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [PY, str(BENCH / "loadgen.py"), "--callback", callback, "--count", str(count)]
        for one in [url] if isinstance(url, str) else url:
            cmd += ["--url", one]
        cmd += ["--concurrency", str(concurrency), "--prefix", prefix, "--max-seconds", "300", "--out", out.name]
        cmd += ["--retries", str(retries)]
        if not times:
            cmd.append("--no-times")
        subprocess.run(cmd, check=True, cwd=ROOT, timeout=400)
        return json.loads(Path(out.name).read_text())


def wait_acked(rx: str, ids: int, timeout: float) -> dict[str, Any]:
    """Poll the receiver until `ids` distinct webhooks were acknowledged (bounded)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5) as client:
        while True:
            stats = client.get(rx + "/_stats").json()
            if stats["acked_ids"] >= ids or time.monotonic() > deadline:
                return stats
            time.sleep(0.05)


def measured_run(target: Proc, rx: str, count: int, concurrency: int, prefix: str, webhooks: bool) -> dict[str, Any]:
    """One load run: client figures, server CPU per request and, for paymock, every webhook counted."""
    assert target.process is not None
    pid = target.process.pid
    with httpx.Client(timeout=5) as client:
        client.post(rx + "/_reset")
    cpu0 = cpu_seconds(pid)
    result = load(target.url, rx + "/hook", count, concurrency, prefix)
    cpu = cpu_seconds(pid) - cpu0
    ok = result["statuses"].get("200", 0)
    lat = result["latencies_ms"]
    row: dict[str, Any] = {
        "target": target.name,
        "concurrency": concurrency,
        "requests": result["count"],
        "ok": ok,
        "non_200": {k: v for k, v in result["statuses"].items() if k != "200"},
        "client_errors": result["errors"],
        "rate": round(result["rate"], 1),
        "p50_ms": round(pct(lat, 50) or 0, 3),
        "p99_ms": round(pct(lat, 99) or 0, 3),
        "server_cpu_ms_per_req": round(cpu * 1000.0 / max(1, result["count"]), 3),
        "client_cpu_share": round(result["client_cpu_s"] / result["elapsed_s"], 2),
    }
    if webhooks:
        stats = wait_acked(rx, ok, timeout=30)
        with httpx.Client(timeout=30) as client:
            acks = client.get(rx + "/_acks").json()
        sent = result["sent_at"]
        wl = [(acks[k][0] - t0) * 1000.0 for tx, t0 in sent.items() if (k := f"evt_completed_{tx}") in acks]
        row.update(
            webhooks_acked=stats["acked_ids"],
            webhooks_all_delivered=stats["acked_ids"] >= ok,
            duplicate_acks=stats["duplicate_acks"],
            completed_at_answer=result["payment_status"].get("PAYMENT_COMPLETED", 0),
            webhook_p50_ms=round(pct(wl, 50) or 0, 3),
            webhook_p99_ms=round(pct(wl, 99) or 0, 3),
        )
    return row


def wrk_run(target: Proc, rx: str, seconds: int, concurrency: int, prefix: str) -> dict[str, Any] | None:
    """Cross-check of c=32 throughput with wrk (C, cheaper than any Python client), when installed."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    env = {**os.environ, "PREFIX": prefix, "CALLBACK": rx + "/hook"}
    cmd = [wrk, "-t1", f"-c{concurrency}", f"-d{seconds}s", "--latency", "-s", str(BENCH / "post.lua"), target.url]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 30).stdout
    figures: dict[str, Any] = {"target": target.name, "concurrency": concurrency, "seconds": seconds}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            figures["rate"] = float(parts[1])
        elif "requests in" in line:
            figures["requests"] = int(parts[0])
        elif line.startswith("  Non-2xx"):
            figures["non_2xx"] = int(parts[-1])
        elif parts and parts[0] in ("50%", "99%"):
            figures[f"p{parts[0][:-1]}_ms"] = round(_wrk_ms(parts[1]), 3)
    figures.setdefault("non_2xx", 0)
    return figures


def _wrk_ms(value: str) -> float:
    for unit, scale in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if value.endswith(unit):
            return float(value[: -len(unit)]) * scale
    return float(value)


def listing_figures(
    target: Proc, sizes: list[int], rx: str, repeat: int = 20
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Fill to each size (payments with their deliveries), then time the listings a client makes."""
    rows: list[dict[str, Any]] = []
    rss: dict[str, float] = {}
    assert target.process is not None
    with httpx.Client(base_url=target.url, timeout=120) as client:
        client.post("/mock/v1/reset")
        have = 0
        for size in sizes:
            if size > have:
                load(target.url, rx + "/hook", size - have, 32, f"fill{size}_", times=False)
                have = size
            health = client.get("/mock/v1/health").json()
            rss[str(size)] = round(rss_mb(target.process.pid), 1)
            queries = {
                "first page (limit=100)": "?limit=100",
                "last page (offset, limit=100)": f"?limit=100&offset={max(0, size - 100)}",
                "status filter (limit=100)": "?status=PAYMENT_COMPLETED&limit=100",
                "tx_id_prefix filter (limit=100)": f"?tx_id_prefix=fill{size}_1&limit=100",
                "full listing (seed shape)": "",
            }
            for label, query in queries.items():
                times = []
                for _ in range(3 if query == "" and size >= 10_000 else repeat):
                    t0 = time.perf_counter()
                    r = client.get("/api/v2/pending-payments" + query)
                    times.append((time.perf_counter() - t0) * 1000.0)
                    r.raise_for_status()
                rows.append(
                    {
                        "payments": health["payments"],
                        "query": label,
                        "p50_ms": round(statistics.median(times), 2),
                        "max_ms": round(max(times), 2),
                        "bytes": len(r.content),
                    }
                )
    return rows, rss


def paymock_proc(name: str, env: dict[str, str], python: str = PY) -> Proc:
    """`paymock serve` on a free loopback port; `python` may be another environment's interpreter."""
    cmd = [python, "-m", "paymock.cli", "serve", "--host", "127.0.0.1", "--port", "{port}"]
    return Proc(name, cmd, env)


# the baselines' ASGI apps, by short name (ab.py takes them as `baseline:<name>`)
BASELINE_APPS = {
    "starlette": "bench.baselines.starlette_app:app",
    "connexion": "bench.baselines.connexion_app:app",
}


def uvicorn_proc(name: str, app: str) -> Proc:
    cmd = [PY, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", "{port}", "--log-level", "warning"]
    return Proc(name, [*cmd, "--no-access-log"])


def machine() -> dict[str, Any]:
    free = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.splitlines()
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": free[1].split()[1] if len(free) > 1 else "?",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "wrk": shutil.which("wrk") is not None,
    }


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    lines = [" | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="paymock benchmark")
    parser.add_argument("--quick", action="store_true", help="seconds-long version (CI smoke)")
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--paymock-env", action="append", default=[], help="KEY=VALUE for the paymock process")
    args = parser.parse_args(argv)
    quick = args.quick
    n1, n32 = (50, 400) if quick else (2000, 20000)
    sizes = [100, 500] if quick else [1000, 10_000, 100_000]
    wrk_seconds = 0 if quick else 10
    extra_env = dict(kv.split("=", 1) for kv in args.paymock_env)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report: dict[str, Any] = {"machine": machine(), "quick": quick, "started": stamp, "env": extra_env}

    targets: list[tuple[Proc, bool]] = []
    if not args.no_baselines:
        targets.append((uvicorn_proc("starlette (bare)", BASELINE_APPS["starlette"]), False))
        targets.append((uvicorn_proc("connexion (minimal)", BASELINE_APPS["connexion"]), False))
    targets.append((paymock_proc("paymock (memory)", extra_env), True))
    if not args.no_sqlite:
        db = Path(tempfile.mkdtemp(prefix="paymock-bench-")) / "bench.db"
        targets.append((paymock_proc("paymock (sqlite)", {**extra_env, "PAYMOCK_STORE": f"sqlite:{db}"}), True))

    runs: list[dict[str, Any]] = []
    ready: list[dict[str, Any]] = []
    wrk_rows: list[dict[str, Any]] = []
    with receiver() as rx:
        for target, webhooks in targets:
            starts = []
            for _ in range(0 if quick else 3):  # cold start: median of fresh processes
                target.start()
                starts.append(target.ready_s)
                target.stop()
            target.start()
            starts = starts or [target.ready_s]
            ready.append({"target": target.name, "ready_s": round(statistics.median(starts), 3)})
            try:
                load(target.url, rx + "/hook", 50 if quick else 300, 8, f"warm_{stamp}_", times=False)
                for c, n in ((1, n1), (32, n32)):
                    runs.append(measured_run(target, rx, n, c, f"c{c}_{stamp}_", webhooks))
                if wrk_seconds:
                    row = wrk_run(target, rx, wrk_seconds, 32, f"wrk_{stamp}_")
                    if row is not None:
                        wrk_rows.append(row)
                        if webhooks:
                            with httpx.Client(base_url=target.url, timeout=30) as client:
                                payments = client.get("/mock/v1/health").json()["payments"]
                            row["payments_in_store"] = payments
                if target.name == "paymock (memory)":
                    report["listing"], report["rss_mb"] = listing_figures(target, sizes, rx, 5 if quick else 20)
                    if target.process is not None:
                        report["rss_final_mb"] = round(rss_mb(target.process.pid), 1)
            finally:
                target.stop()

    report.update(ready=ready, runs=runs, wrk=wrk_rows)
    by = {(r["target"], r["concurrency"]): r for r in runs}
    ours, base = by.get(("paymock (memory)", 32)), by.get(("connexion (minimal)", 32))
    if ours and base:
        report["ratio_vs_connexion_c32"] = round(ours["rate"] / base["rate"], 2)
    print("\ncold start to healthy (median)\n" + table(ready, ["target", "ready_s"]))
    cols = ["target", "concurrency", "requests", "ok", "non_200", "rate", "p50_ms", "p99_ms"]
    cols += ["server_cpu_ms_per_req", "client_cpu_share", "webhooks_acked", "webhook_p50_ms", "webhook_p99_ms"]
    print("\ncreate (Python aiohttp load generator)\n" + table(runs, cols))
    if wrk_rows:
        wcols = ["target", "concurrency", "requests", "rate", "p50_ms", "p99_ms", "non_2xx", "payments_in_store"]
        print("\ncreate at c=32 (wrk cross-check)\n" + table(wrk_rows, wcols))
    if "listing" in report:
        lcols = ["payments", "query", "p50_ms", "max_ms"]
        print("\nlisting (paymock, memory store)\n" + table(report["listing"], lcols))
        print(f"\nRSS after fill: {report['rss_mb']} MB")
    if "ratio_vs_connexion_c32" in report:
        print(f"\npaymock / minimal connexion at c=32: {report['ratio_vs_connexion_c32']}")
    out = args.out or BENCH / "results" / f"{stamp}{'-quick' if quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    if args.out is None and not quick:
        (BENCH / "results" / "latest.json").write_text(json.dumps(report, indent=2))
    print(f"\nwrote {out}")
    return report


if __name__ == "__main__":
    main()
