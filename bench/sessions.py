"""Sessions: what live sessions cost a create, and whether 32 sessions creating at once ever cross.

    python bench/sessions.py                    # 6 interleaved rounds x 5,000 creates at c=32, then 32 sessions
    python bench/sessions.py --rounds 2 --count 1000 --per-session 10    # a quick look
    python bench/sessions.py --store sqlite    # the same on a fresh SQLite file

1. Cost: one `paymock serve`, creates that name no session (the ops server's traffic) and that no
   session claims, so every create runs the whole claim lookup and misses: with 0 live sessions, and
   with 100 live sessions each claiming a tx_id prefix, 5 order ids and 5 user ids. The two states
   alternate round by round in the same process (a global reset between them, then the sessions
   again), and the figure is the server's own CPU per create (utime + stime from /proc), medians per
   state, and their ratio. Target: at most 1.1x.
2. Cross-talk: 32 sessions, each claiming its own user_id, even ones with `default` active and odd ones
   `declined`, create at once (32 threads, header-less, as an ops server would). Afterwards every
   session's listing, delivery log and the webhooks received are checked: a payment listed in the
   wrong session, with the other session's outcome, a webhook of the wrong event, or anything in the
   global session counts as cross-talk. Target: 0.

Everything on 127.0.0.1, every loop bounded, every process it starts is stopped. Writes
bench/results/sessions-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import BENCH, cpu_seconds, load, machine, paymock_proc, receiver, wait_acked

S = "X-Mock-Session"
ENV = {"PAYMOCK_TIME_SCALE": "0.001"}  # otherwise as shipped (access log and INFO logging on, as bench/run.py)


def open_sessions(client: httpx.Client, count: int) -> None:
    for i in range(count):
        claims = {
            "tx_id_prefix": f"claimed{i:03d}-",
            "order_ids": [100_000 + i * 10 + k for k in range(5)],
            "user_ids": [200_000 + i * 10 + k for k in range(5)],
        }
        answer = client.post("/mock/v1/sessions", json={"label": f"bench {i}", "claims": claims})
        answer.raise_for_status()


def cost(url: str, rx: str, rounds: int, count: int, concurrency: int, pid: int) -> dict[str, Any]:
    per: dict[int, list[float]] = {0: [], 100: []}
    with httpx.Client(base_url=url, timeout=30) as client:
        load(url, rx + "/hook", 500, concurrency, "warm_", times=False)  # warm-up, not counted
        for r in range(rounds):
            for sessions in (0, 100) if r % 2 == 0 else (100, 0):
                client.post("/mock/v1/reset").raise_for_status()  # every session ended, payments gone
                open_sessions(client, sessions)
                assert client.get("/mock/v1/sessions").json()["total"] == sessions
                cpu0 = cpu_seconds(pid)
                result = load(url, rx + "/hook", count, concurrency, f"r{r}s{sessions}_", times=False)
                spent = cpu_seconds(pid) - cpu0
                ok = result["statuses"].get("200", 0)
                if ok != count:
                    raise RuntimeError(f"round {r}, {sessions} sessions: {ok} of {count} creates answered 200")
                # unclaimed: every one of them went to the global session
                listed = client.get("/api/v2/pending-payments", params={"limit": 1}).json()["total"]
                if listed != count:
                    raise RuntimeError(f"{listed} global payments after {count} unclaimed creates")
                per[sessions].append(spent * 1000.0 / count)
                print(f"round {r}: {sessions:3d} sessions  {per[sessions][-1]:.3f} ms CPU per create", flush=True)
    medians = {k: statistics.median(v) for k, v in per.items()}
    return {
        "rounds": rounds,
        "count": count,
        "concurrency": concurrency,
        "server_cpu_ms_per_create": {str(k): [round(x, 4) for x in v] for k, v in per.items()},
        "median_0_sessions_ms": round(medians[0], 4),
        "median_100_sessions_ms": round(medians[100], 4),
        "ratio_100_vs_0": round(medians[100] / medians[0], 3),
    }


def crosstalk(url: str, rx: str, sessions: int, per_session: int) -> dict[str, Any]:
    with httpx.Client(base_url=url, timeout=30) as client:
        client.post("/mock/v1/reset").raise_for_status()
        httpx.post(rx + "/_reset").raise_for_status()
        ids: list[str] = []
        for i in range(sessions):
            made = client.post("/mock/v1/sessions", json={"label": f"worker {i}", "claims": {"user_ids": [900 + i]}})
            sid = made.json()["session_id"]
            ids.append(sid)
            active = "declined" if i % 2 else "default"
            client.put("/mock/v1/active-scenario", json={"name": active}, headers={S: sid}).raise_for_status()

    def worker(i: int) -> list[int]:
        statuses = []
        with httpx.Client(base_url=url, timeout=30) as ops:  # no X-Mock-Session: claims only
            for n in range(per_session):
                body = {
                    "version": "v2",
                    "tx_id": f"w{i}-{n}",
                    "order_id": n + 1,
                    "user_id": 900 + i,
                    "amount": 1000,
                    "callback_url": rx + f"/hook/{i}",
                }
                statuses.append(ops.post("/api/v2/payments", json=body).status_code)
        return statuses

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=sessions) as pool:
        statuses = [s for batch in pool.map(worker, range(sessions)) for s in batch]
    elapsed = time.monotonic() - started
    total = sessions * per_session
    stats = wait_acked(rx, total, timeout=60)
    acks = httpx.get(rx + "/_acks", timeout=30).json()
    crossed: list[str] = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for i, sid in enumerate(ids):
            want = {f"w{i}-{n}" for n in range(per_session)}
            status = "PAYMENT_FAILED" if i % 2 else "PAYMENT_COMPLETED"
            event = "failed" if i % 2 else "completed"
            listing = client.get("/api/v2/pending-payments", headers={S: sid}).json()["payments"]
            got = {p["tx_id"] for p in listing.values()}
            crossed += [f"{sid}: foreign payment {tx}" for tx in got - want]
            crossed += [f"{sid}: missing payment {tx}" for tx in want - got]
            crossed += [f"{sid}: {p['tx_id']} is {p['status']}" for p in listing.values() if p["status"] != status]
            log = client.get("/mock/v1/deliveries", headers={S: sid}, params={"limit": 1000}).json()["deliveries"]
            crossed += [f"{sid}: foreign delivery {d['delivery_id']}" for d in log if d["tx_id"] not in want]
            crossed += [
                f"{sid}: no {event} webhook acknowledged for {tx}" for tx in want if f"evt_{event}_{tx}" not in acks
            ]
        in_global = client.get("/api/v2/pending-payments").json()["total"]
    crossed += [f"global session holds {in_global} payment(s)"] if in_global else []
    return {
        "sessions": sessions,
        "per_session": per_session,
        "creates": total,
        "creates_200": statuses.count(200),
        "elapsed_s": round(elapsed, 3),
        "webhooks_acked": stats["acked_ids"],
        "cross_talk": len(crossed),
        "cross_talk_examples": crossed[:10],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sessions", type=int, default=32)
    parser.add_argument("--per-session", type=int, default=25)
    parser.add_argument("--store", choices=["memory", "sqlite"], default="memory")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    env = dict(ENV)
    if args.store == "sqlite":
        env["PAYMOCK_STORE"] = f"sqlite:{Path(tempfile.mkdtemp(prefix='paymock-sessions-')) / 'bench.db'}"
    server = paymock_proc("paymock", env)
    with receiver() as rx:
        server.start()
        try:
            assert server.process is not None
            figures = cost(server.url, rx, args.rounds, args.count, args.concurrency, server.process.pid)
            talk = crosstalk(server.url, rx, args.sessions, args.per_session)
        finally:
            server.stop()
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": machine(),
        "store": args.store,
        "cost": figures,
        "crosstalk": talk,
    }
    print(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=2))
    tag = "" if args.store == "memory" else f"-{args.store}"
    out = args.out or BENCH / "results" / f"sessions{tag}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {out.relative_to(BENCH.parent) if out.is_relative_to(BENCH.parent) else out}")
    ok = figures["ratio_100_vs_0"] <= 1.1 and talk["cross_talk"] == 0 and talk["creates_200"] == talk["creates"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
