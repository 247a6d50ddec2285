"""Create payments as fast as the server takes them: an asyncio + aiohttp client in its own process.

Each request carries a unique tx_id; the send time of each (CLOCK_MONOTONIC, shared across
processes) is kept so the receiver's first-ack times give create-sent -> webhook-received latency.
Bounded by --count and --max-seconds; 127.0.0.1 only.

    python bench/loadgen.py --url http://127.0.0.1:P --callback http://127.0.0.1:R/hook \
        --count 20000 --concurrency 32 --prefix run1_ --out result.json

Several --url (processes sharing one database): requests go round-robin, and with --retries N a
request that got no answer (a process killed mid-burst) is sent again, same tx_id, to the next URL,
as a client behind a load balancer retries: tx_id is the idempotency key, so a repeat never
creates a second payment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import aiohttp

PATH = "/api/v2/payments"


def _loopback(url: str) -> str:
    if urlsplit(url).hostname not in ("127.0.0.1", "localhost"):
        raise SystemExit(f"loadgen: {url} is not on loopback")
    return url


async def run(
    urls: list[str],
    callback: str,
    count: int,
    concurrency: int,
    prefix: str,
    max_seconds: float,
    keep_times: bool,
    retries: int = 0,
) -> dict[str, Any]:
    targets = [_loopback(url).rstrip("/") + PATH for url in urls]
    _loopback(callback)
    latencies: list[float] = []
    sent_at: dict[str, float] = {}
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    retried = 0
    payment_status: Counter[str] = Counter()
    next_index = 0
    cpu_started = time.process_time()
    started = time.monotonic()
    deadline = started + max_seconds
    head = b'{"version":"v2","order_id":1,"user_id":1,"amount":1000,"callback_url":"%s","tx_id":"' % callback.encode()
    headers = {"Content-Type": "application/json"}

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal next_index, retried
        while next_index < count and time.monotonic() < deadline:
            i = next_index
            next_index += 1
            tx_id = f"{prefix}{i}"
            body = head + tx_id.encode() + b'"}'
            t0 = time.monotonic()
            for attempt in range(retries + 1):
                target = targets[(i + attempt) % len(targets)]
                try:
                    async with session.post(target, data=body, headers=headers) as response:
                        data = await response.read()
                        statuses[response.status] += 1
                        if response.status == 200:
                            payment_status[json.loads(data)["status"]] += 1
                    break
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    if attempt == retries:
                        errors[type(exc).__name__] += 1
                    else:
                        retried += 1
                        await asyncio.sleep(0.05 * (attempt + 1))  # the balancer notices the dead process
            else:
                continue  # no answer after every retry: counted in errors
            t1 = time.monotonic()
            latencies.append((t1 - t0) * 1000.0)
            if keep_times:
                sent_at[tx_id] = t0

    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    return {
        "count": next_index,
        "concurrency": concurrency,
        "elapsed_s": elapsed,
        "client_cpu_s": time.process_time() - cpu_started,
        "rate": len(latencies) / elapsed if elapsed else 0.0,
        "statuses": {str(k): v for k, v in statuses.items()},
        "payment_status": dict(payment_status),
        "errors": dict(errors),
        "retried": retried,
        "latencies_ms": latencies,
        "sent_at": sent_at,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, action="append", help="repeat for several processes (round-robin)")
    parser.add_argument("--callback", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--prefix", default="tx_")
    parser.add_argument("--max-seconds", type=float, default=120.0)
    parser.add_argument("--retries", type=int, default=0, help="send a request with no answer again, next URL")
    parser.add_argument("--no-times", action="store_true", help="skip per-tx send times (bulk fills)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(
        run(
            args.url,
            args.callback,
            args.count,
            args.concurrency,
            args.prefix,
            args.max_seconds,
            not args.no_times,
            args.retries,
        )
    )
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
