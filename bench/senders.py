"""Outbound client benchmark: the two webhook senders, same run, same loopback receiver.

(Results up to 2026-12-06 also have an `aiohttp` sender, since removed: bench/README.md.)

    python bench/senders.py                      # ~1 min: 3 rounds x (2,000 sends at c=1, 10,000 at c=32) each
    python bench/senders.py --quick              # seconds
    python bench/senders.py --loop asyncio       # the stdlib loop instead of uvloop (the server runs uvloop)

The receiver is bench/receiver.py in its own process on 127.0.0.1 (raw asyncio + httptools), so
`time.process_time()` of this process is the sender's CPU only: the figure that matters, since the
sender shares the server's core with the API. Senders run in turns, rounds interleaved, medians
reported: on a shared machine, neighbours' load hits every sender alike. Import time is the extra
start-up each client adds to a process that has asyncio and paymock's senders module loaded
(median of fresh interpreters). Writes bench/results/senders-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SENDERS = ("http11", "httpx")
IMPORTS = {  # what each sender imports when it is chosen
    "http11": "import paymock.delivery.http11",
    "httpx": "import httpx",
}
# A webhook as the dispatcher sends it: ~500-byte JSON body, signature headers.
BODY = json.dumps(
    {
        "event": "payment.completed",
        "payment_id": "pay_0123456789abcdef",
        "tx_id": "tx-bench-000001",
        "order_id": 123,
        "amount": {"value": "10.00", "currency": "EUR"},
        "status": "PAYMENT_COMPLETED",
        "created_at": "2026-11-27T01:13:36.123Z",
        "completed_at": "2026-11-27T01:13:36.456Z",
        "metadata": {"customer": "c-42", "note": "x" * 200},
    }
).encode()
HEADERS = {
    "Content-Type": "application/json",
    "X-Payment-Event": "payment.completed",
    "webhook-id": "dlv_0123456789abcdef",
    "webhook-timestamp": "1795741216",
    "X-Payment-Signature": "sha256=" + "ab" * 32,
    "webhook-signature": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
}


def make(kind: str, max_connections: int) -> Any:
    if kind == "http11":
        from paymock.delivery.http11 import Http11Sender

        return Http11Sender(max_connections)
    from paymock.delivery.senders import HttpxSender

    return HttpxSender(max_connections)


async def run_one(kind: str, url: str, sends: int, concurrency: int, timeout_s: float) -> dict[str, Any]:
    sender = make(kind, max_connections=256)
    failures = 0

    async def worker(count: int) -> None:
        nonlocal failures
        for _ in range(count):  # bounded
            result = await sender.send(url, BODY, HEADERS, timeout_s)
            if result.status != 200:
                failures += 1

    try:
        await asyncio.gather(*(worker(50) for _ in range(min(32, concurrency * 8))))  # warm-up: connections, caches
        per_task, extra = divmod(sends, concurrency)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(per_task + (1 if i < extra else 0)) for i in range(concurrency)))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        await sender.close()
    return {
        "sender": kind,
        "c": concurrency,
        "sends": sends,
        "failures": failures,
        "cpu_us_per_send": cpu / sends * 1e6,
        "sends_per_s": sends / wall,
    }


def import_time(kind: str, repeats: int) -> float:
    code = (
        "import asyncio, time, paymock.delivery.senders; t = time.perf_counter(); "
        f"{IMPORTS[kind]}; print(time.perf_counter() - t)"
    )
    runs = [
        float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
        for _ in range(repeats)
    ]
    return statistics.median(runs)


def start_receiver() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "receiver.py"), "--port", "0", "--max-seconds", "900"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "PORT <n>" once listening
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"receiver did not start: {line!r}")
    return proc, int(line.split()[1])


def receiver_stats(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats", timeout=5) as response:
        return json.load(response)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    plan = [(1, 200), (32, 1_000)] if args.quick else [(1, 2_000), (32, 10_000)]
    runner: Callable[[Any], Any] = asyncio.run
    if args.loop == "uvloop":
        import uvloop

        runner = uvloop.run

    proc, port = start_receiver()
    url = f"http://127.0.0.1:{port}/webhook"
    rows: list[dict[str, Any]] = []
    try:
        for round_no in range(rounds):
            order = SENDERS[round_no % len(SENDERS) :] + SENDERS[: round_no % len(SENDERS)]  # rotate who goes first
            for kind in order:
                for concurrency, sends in plan:
                    row = runner(run_one(kind, url, sends, concurrency, timeout_s=10.0))
                    row["round"] = round_no
                    rows.append(row)
                    print(
                        f"round {round_no} {kind:8s} c={concurrency:<3d} {row['cpu_us_per_send']:7.1f} us CPU/send "
                        f"{row['sends_per_s']:8.0f} sends/s  failures {row['failures']}",
                        flush=True,
                    )
        stats = receiver_stats(port)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    expected = sum(r["sends"] for r in rows) + sum(50 * min(32, r["c"] * 8) for r in rows)
    imports = {kind: import_time(kind, 3 if args.quick else 7) for kind in SENDERS}

    summary: list[dict[str, Any]] = []
    print("\n| sender | c | CPU us/send | sends/s | import s |")
    print("|---|---|---|---|---|")
    for kind in SENDERS:
        for concurrency, _ in plan:
            mine = [r for r in rows if r["sender"] == kind and r["c"] == concurrency]
            entry = {
                "sender": kind,
                "c": concurrency,
                "cpu_us_per_send": statistics.median(r["cpu_us_per_send"] for r in mine),
                "sends_per_s": statistics.median(r["sends_per_s"] for r in mine),
                "failures": sum(r["failures"] for r in mine),
                "import_s": imports[kind],
            }
            summary.append(entry)
            print(
                f"| {kind} | {concurrency} | {entry['cpu_us_per_send']:.0f} | {entry['sends_per_s']:,.0f} "
                f"| {imports[kind]:.3f} |"
            )
    print(
        f"\nreceiver: {stats['requests']} requests (expected {expected}), failures {sum(r['failures'] for r in rows)}"
    )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"senders-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {"loop": args.loop, "rows": rows, "summary": summary, "receiver": stats, "expected_requests": expected},
            indent=2,
        )
    )
    print(f"wrote {out.relative_to(ROOT)}")
    ok = stats["requests"] == expected and not any(r["failures"] for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
