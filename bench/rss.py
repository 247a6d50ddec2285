"""Resident memory of a fresh `paymock serve` as it fills up: the "RSS after 100k payments" figure.

    python bench/rss.py                      # 100,000 creates at c=32 in 4 steps (~4 min here)
    python bench/rss.py --count 10000        # quicker
    python bench/rss.py --paymock-env PAYMOCK_STORE=sqlite:/tmp/x.db

A fresh server (memory store and defaults unless --paymock-env says otherwise) and the loopback
receiver from `receiver.py`; creates come from `loadgen.py` with unique tx_ids. After each step
it waits until the receiver has acknowledged every webhook and the server reports no pending
delivery, then reads VmRSS from /proc. Every create must answer 200 and every webhook must be
acknowledged, or the figure is not taken (exit 1). Writes bench/results/rss-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import BENCH, load, paymock_proc, receiver, rss_mb, wait_acked


def settle(url: str, timeout: float) -> dict[str, Any]:
    """Wait (bounded) until the server has no delivery left to attempt."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=10) as client:
        while True:
            health = client.get("/mock/v1/health").json()
            if health["deliveries_pending"] == 0 or time.monotonic() > deadline:
                return health
            time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--paymock-env", action="append", default=[], help="KEY=VALUE for the paymock process")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    env = dict(kv.split("=", 1) for kv in args.paymock_env)
    step = args.count // args.steps
    points: list[dict[str, Any]] = []
    ok = True
    with receiver() as rx:
        server = paymock_proc("paymock", env).start()
        try:
            assert server.process is not None
            pid = server.process.pid
            points.append({"payments": 0, "rss_mb": round(rss_mb(pid), 1)})
            done = 0
            started = time.monotonic()
            for i in range(args.steps):
                n = step if i < args.steps - 1 else args.count - done
                result = load(server.url, rx + "/hook", n, 32, f"rss{i}_", times=False)
                done += n
                answered = result["statuses"].get("200", 0)
                acked = wait_acked(rx, done, timeout=120)["acked_ids"]
                health = settle(server.url, timeout=120)
                point = {
                    "payments": health["payments"],
                    "rss_mb": round(rss_mb(pid), 1),
                    "answered_200": answered,
                    "rate": round(result["rate"], 1),
                    "acked_total": acked,
                    "deliveries_pending": health["deliveries_pending"],
                }
                points.append(point)
                print(json.dumps(point), flush=True)
                ok = ok and answered == n and acked >= done and health["deliveries_pending"] == 0
            elapsed = time.monotonic() - started
        finally:
            server.stop()
    first, last = points[0], points[-1]
    per_payment = (last["rss_mb"] - first["rss_mb"]) * 1024 * 1024 / max(1, last["payments"])
    summary = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "env": env,
        "count": args.count,
        "all_answered_and_acknowledged": ok,
        "elapsed_s": round(elapsed, 1),
        "rss_start_mb": first["rss_mb"],
        "rss_end_mb": last["rss_mb"],
        "bytes_per_payment": round(per_payment),
        "points": points,
    }
    out = args.out or BENCH / "results" / f"rss-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"RSS {first['rss_mb']} MB at start, {last['rss_mb']} MB after {last['payments']:,} payments "
        f"(~{per_payment:,.0f} bytes per payment); every create answered and acknowledged: {ok}; {out}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
