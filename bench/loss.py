"""The loss test: no webhook is ever lost, even against a receiver that misbehaves under a burst.

    python bench/loss.py            # full: 20,000 payments, 30% refused, receiver down 3 s mid-burst
    python bench/loss.py --quick    # seconds; what tests/perf runs
    python bench/loss.py --store sqlite:/tmp/loss.db
    python bench/loss.py --store postgres --processes 2 --kill   # issue 17: two processes on one database

Creates payments as fast as the server takes them (c=32) against a receiver refusing 30% of
attempts at random, takes the receiver down entirely in the middle, then checks: no 5xx (no
non-200 at all), no payment twice-created, every delivery settles within the scaled retry
schedule; deliveries that ran out of schedule are marked failed and listed (never silent), get
redelivered, and then every payment is acknowledged and completed. Exit status 1 on any failure.

With --store postgres a throwaway PostgreSQL cluster is started here (paymock.testing.postgres), and
--processes 2 runs two `paymock serve` processes on its database, the load round-robin over both.
--kill SIGKILLs one of them once a quarter of the payments exist and starts it again on its port: the
client sends a request that got no answer again, same tx_id, to the other process (as a client behind a
load balancer does), and the killed process's leased deliveries go out from the other one once their
leases expire. Still 0 lost, 0 created twice, every webhook acknowledged.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import BENCH, load, paymock_proc, receiver

# The default schedule (Svix-like) adds up to ~27.6 h; the scale squeezes it into schedule_s.
DEFAULT_SCHEDULE_S = (5 + 300 + 1800 + 7200 + 18000 + 36000 + 36000) * 1.0


@contextlib.contextmanager
def store_url(store: str) -> Iterator[str]:
    """The store to run on: as given, or a fresh database on a throwaway cluster for `postgres`."""
    if store != "postgres":
        yield store
        return
    from paymock.testing.postgres import PostgresCluster, why_unavailable

    reason = why_unavailable()
    if reason:
        raise SystemExit(f"bench/loss.py: {reason}")
    pg = PostgresCluster(durable=True)
    try:
        yield pg.start().create_database("loss")
    finally:
        pg.remove()


def run(
    count: int, down_s: float, refuse: float, schedule_s: float, store: str, processes: int = 1, kill: bool = False
) -> dict[str, Any]:
    scale = schedule_s / DEFAULT_SCHEDULE_S
    checks: dict[str, Any] = {}
    env = {
        "PAYMOCK_TIME_SCALE": f"{scale:.8f}",
        "PAYMOCK_STORE": store,
        "PAYMOCK_CALLBACK_HOSTS": "127.0.0.1",
        "PAYMOCK_ACCESS_LOG": "false",
        "LOG_LEVEL": "WARNING",
    }
    servers = [paymock_proc(f"paymock#{n}", env).start(timeout=60) for n in range(processes)]
    server = servers[0]  # the one never killed: the checks ask it (all processes answer for one store)
    try:
        with receiver(refuse) as rx, httpx.Client(timeout=60) as client:
            prefix = f"loss{int(time.time())}_"
            result: dict[str, Any] = {}

            def burst() -> None:
                urls = [s.url for s in servers]
                result.update(load(urls, rx + "/hook", count, 32, prefix, times=False, retries=3 if kill else 0))

            def payments() -> int:
                return int(client.get(server.url + "/mock/v1/health").json()["payments"])

            loader = threading.Thread(target=burst)
            started = time.monotonic()
            loader.start()
            # one process is SIGKILLed once a quarter of the payments exist, and started again on its port
            if kill and processes > 1:
                victim = servers[-1]
                while loader.is_alive() and payments() < count // 4:
                    time.sleep(0.05)
                assert victim.process is not None
                os.kill(victim.process.pid, signal.SIGKILL)
                victim.process.wait()
                checks["killed_at_payments"] = payments()
                victim.start(timeout=60, port=victim.port)
                checks["restarted_after_s"] = round(victim.ready_s, 2)
            # the receiver goes down entirely once half the payments exist
            while loader.is_alive():
                if payments() >= count // 2:
                    client.post(rx + f"/_down?seconds={down_s}")
                    checks["down_at_payments"] = payments()
                    break
                time.sleep(0.05)
            loader.join()
            burst_s = time.monotonic() - started
            checks["burst_s"] = round(burst_s, 2)
            checks["create_rate"] = round(result["rate"], 1)
            checks["statuses"] = result["statuses"]
            checks["client_errors"] = result["errors"]
            checks["client_retries"] = result.get("retried", 0)
            checks["answered_completed"] = result["payment_status"].get("PAYMENT_COMPLETED", 0)
            checks["answered_pending"] = result["payment_status"].get("PENDING", 0)

            # every delivery settles within the (scaled) schedule, plus the down time and a margin
            deadline = time.monotonic() + schedule_s + down_s + 30

            def unsettled() -> tuple[int, int]:
                scheduled = client.get(server.url + "/mock/v1/health").json()["deliveries_pending"]
                pending = client.get(server.url + "/mock/v1/deliveries", params={"state": "pending", "limit": 1})
                return scheduled, pending.json()["total"]

            while time.monotonic() < deadline and unsettled() != (0, 0):
                time.sleep(0.2)
            checks["settled_after_s"] = round(time.monotonic() - started, 2)
            checks["still_scheduled"], checks["pending_deliveries"] = unsettled()

            # beyond the schedule: failed, listed, redeliverable
            failed = client.get(server.url + "/mock/v1/deliveries", params={"state": "failed", "limit": 1000}).json()
            checks["failed_beyond_schedule"] = failed["total"]
            client.post(rx + "/_config?refuse=0")
            redelivered = []
            for d in failed["deliveries"]:
                r = client.post(server.url + f"/mock/v1/deliveries/{d['delivery_id']}/redeliver")
                redelivered.append(r.status_code == 200 and r.json()["state"] == "acknowledged")
            checks["redelivered_ok"] = sum(redelivered)

            listing = client.get(server.url + "/api/v2/pending-payments", params={"limit": 1}).json()
            stats = client.get(rx + "/_stats").json()
            checks.update(
                payments_stored=listing["total"],
                completed=listing["completed_count"],
                pending=listing["pending_count"],
                receiver=stats,
            )
    finally:
        for one in servers:
            one.stop()

    ok = (
        checks["statuses"] == {"200": count}
        and not checks["client_errors"]
        and checks["payments_stored"] == count  # none twice-created, none missing
        and checks["still_scheduled"] == 0
        and checks["pending_deliveries"] == 0
        and checks["redelivered_ok"] == checks["failed_beyond_schedule"]
        and checks["completed"] == count
        and checks["pending"] == 0
        and checks["receiver"]["acked_ids"] == count
    )
    checks["ok"] = ok
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="paymock loss test")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--count", type=int)
    parser.add_argument("--down", type=float)
    parser.add_argument("--refuse", type=float, default=0.3)
    parser.add_argument("--schedule-s", type=float, help="what the whole retry schedule is squeezed into")
    parser.add_argument(
        "--store", default="memory", help="memory, sqlite:PATH, postgresql://..., or postgres (a throwaway cluster)"
    )
    parser.add_argument("--processes", type=int, default=1, help="paymock processes on the store (postgres)")
    parser.add_argument("--kill", action="store_true", help="SIGKILL one process mid-burst and start it again")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    count = args.count or (1000 if args.quick else 20_000)
    down = args.down if args.down is not None else (1.0 if args.quick else 3.0)
    schedule_s = args.schedule_s or (10.0 if args.quick else 60.0)
    if args.processes > 1 and args.store.split(":", 1)[0] not in ("postgres", "postgresql"):
        parser.error("--processes > 1 needs a postgres store (memory and sqlite are one process's)")
    with store_url(args.store) as store:
        checks = run(count, down, args.refuse, schedule_s, store, args.processes, args.kill)
    checks.update(
        count=count,
        down_s=down,
        refuse=args.refuse,
        schedule_s=schedule_s,
        store=args.store.split(":", 1)[0],  # the kind, not a local path
        processes=args.processes,
        killed=args.kill,
    )
    print(json.dumps(checks, indent=2))
    name = f"loss-{time.strftime('%Y%m%d-%H%M%S')}{'-quick' if args.quick else ''}.json"
    out = args.out or BENCH / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(checks, indent=2))
    return 0 if checks["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
