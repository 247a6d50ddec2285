"""What hostile requests cost a real `paymock serve` (issue 14): time per attack request, /healthz latency
while the attack runs, and the server's RSS, against the same server's idle /healthz in the same run.

    python bench/hostile_requests.py                  # every attack, ~1 min on the fixed code
    python bench/hostile_requests.py --only header    # attacks whose name contains `header`

Each attack is the one the issue reproduced, at its size, run against a fresh server (token set, time
scale 0.001, 127.0.0.1) while a thread GETs /healthz every 50 ms and samples VmRSS. Every loop is
bounded; a client waits at most --timeout s for an answer. Writes bench/results/hostile-<time>.json.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from paymock.testing.process import ServerProcess  # noqa: E402
from tests.hostile.request_helpers import Probe, RawAnswer, raw_request, rss_mb  # noqa: E402

TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ENV = {"SERVICE_AUTH_TOKEN": TOKEN, "PAYMOCK_TIME_SCALE": "0.001", "PAYMOCK_ACCESS_LOG": "false"}
Answer = httpx.Response | RawAnswer


def outcome(r: Answer | Exception) -> dict[str, Any]:
    if isinstance(r, Exception):
        return {"error": repr(r)[:200]}
    body = r.content if isinstance(r, httpx.Response) else r.body
    return {"status": r.status_code, "content_type": r.headers.get("content-type"), "answer_bytes": len(body)}


def attacks(client: httpx.Client, timeout: float) -> dict[str, Callable[[ServerProcess], list[Answer | Exception]]]:
    """Each attack by name; `client` (one, shared: a new httpx client costs ~0.1 s) speaks to the server."""

    def put(_server: ServerProcess, name: str, body: dict[str, Any], dry_run: bool = True) -> httpx.Response:
        params = {"dry_run": "true"} if dry_run else None
        return client.put(f"/mock/v1/scenarios/{name}", params=params, json=body)

    def guarded(call: Callable[[], Answer]) -> Answer | Exception:
        try:
            return call()
        except (httpx.HTTPError, OSError) as exc:
            return exc

    def unique_items(server: ServerProcess) -> list[Answer | Exception]:  # row 1: a 37 KB body
        body = {"description": "x", "api": {"operations": [{"a": i} for i in range(3000)]}}
        return [guarded(lambda: put(server, "u", body)) for _ in range(3)]

    def header_line_150mb(server: ServerProcess) -> list[Answer | Exception]:  # row 4
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
        return [guarded(lambda: raw_request(server.port, head, b"a" * (1 << 20), 150 << 20, timeout))]

    def headers_2000(server: ServerProcess) -> list[Answer | Exception]:
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(2000)) + b"\r\n"
        return [guarded(lambda: raw_request(server.port, head, timeout=timeout)) for _ in range(10)]

    def query_12000_x4(server: ServerProcess) -> list[Answer | Exception]:  # row 5: four in parallel
        url = "/api/v2/pending-payments?" + "&".join(str(i) for i in range(12_000))
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            return list(pool.map(lambda _: guarded(lambda: client.get(url)), range(4)))

    def retry_schedule_200k(server: ServerProcess) -> list[Answer | Exception]:  # row 6
        body = {"description": "x", "webhook": {"retry_schedule_ms": [-1] * 200_000}}
        return [guarded(lambda: put(server, "u", body, dry_run=False))]

    def scenarios_1001(_server: ServerProcess) -> list[Answer | Exception]:  # row 7: the last one is over the cap
        return [
            guarded(lambda i=i: client.put(f"/mock/v1/scenarios/s{i}", json={"description": "x"})) for i in range(1001)
        ]

    def listings_after_1001(_server: ServerProcess) -> list[Answer | Exception]:  # row 7: what a client reads back
        payment = {"version": "v2", "tx_id": "t", "order_id": 1, "user_id": 1, "amount": 1, "callback_url": "http://x/"}
        return [
            guarded(lambda: client.get("/mock/v1/scenarios")),
            guarded(lambda: client.post("/api/v2/payments", json=payment, headers={"X-Mock-Scenario": "nope"})),
        ]

    def malformed_and_redirect(server: ServerProcess) -> list[Answer | Exception]:  # row 9
        return [
            guarded(lambda: raw_request(server.port, b"NOT HTTP\r\n\r\n", timeout=timeout)),
            guarded(lambda: raw_request(server.port, b"GET /healthz?" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n")),
            guarded(lambda: raw_request(server.port, b"GET /mock/v1/health/ HTTP/1.1\r\nHost: evil.example\r\n\r\n")),
        ]

    return {
        "unique_items": unique_items,
        "header_line_150mb": header_line_150mb,
        "headers_2000": headers_2000,
        "query_12000_x4": query_12000_x4,
        "retry_schedule_200k": retry_schedule_200k,
        "scenarios_1001": scenarios_1001,
        "listings_after_1001": listings_after_1001,
        "malformed_and_redirect": malformed_and_redirect,
    }


def healthz_figures(watch: Probe) -> dict[str, Any]:
    latencies = watch.latencies or [watch.worst]
    return {
        "samples": len(watch.latencies),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "max_ms": round(max(watch.worst, *latencies) * 1000, 2),
        "failures": watch.failures[:5],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run the attacks whose name contains this")
    parser.add_argument("--timeout", type=float, default=120.0, help="the most a client waits for one answer (s)")
    parser.add_argument("--label", default="", help="added to the result file's name")
    args = parser.parse_args()
    results: dict[str, Any] = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "attacks": {}}
    server = ServerProcess(ENV).wait_ready()
    client = httpx.Client(base_url=server.base_url, headers=AUTH, timeout=args.timeout)
    try:
        with Probe(server.base_url, server.process.pid) as idle:
            time.sleep(2.0)
        benign = []  # the baseline for time per request: a small authenticated GET on the same client
        for _ in range(20):
            started = time.monotonic()
            client.get("/mock/v1/health").raise_for_status()
            benign.append(time.monotonic() - started)
        results["idle"] = {
            "healthz": healthz_figures(idle),
            "rss_mb": round(rss_mb(server.process.pid), 1),
            "benign_request_ms": round(statistics.median(benign) * 1000, 2),
        }
        print(f"idle: {json.dumps(results['idle'])}", flush=True)
        for name, attack in attacks(client, args.timeout).items():
            if args.only not in name:
                continue
            before = rss_mb(server.process.pid)
            with Probe(server.base_url, server.process.pid) as watch:
                started = time.monotonic()
                answers = attack(server)
                took = time.monotonic() - started
            outcomes = [outcome(a) for a in answers]
            figures = {
                "requests": len(answers),
                "seconds_per_request": round(took / len(answers), 4),
                "per_request_vs_benign": round(took / len(answers) / statistics.median(benign), 1),
                "last_answer": outcomes[-1],
                "statuses": sorted({str(o.get("status", o.get("error"))) for o in outcomes}),
                "healthz": healthz_figures(watch),
                "healthz_max_vs_idle": round(watch.worst / max(idle.worst, 1e-6), 1),
                "rss_mb": {"before": round(before, 1), "max": round(watch.max_rss_mb, 1)},
            }
            if name == "malformed_and_redirect":
                figures["answers"] = outcomes
                last = answers[-1]
                figures["redirect_location"] = None if isinstance(last, Exception) else last.headers.get("location")
            results["attacks"][name] = figures
            print(f"{name}: {json.dumps(figures)}", flush=True)
        results["rss_mb_end"] = round(rss_mb(server.process.pid), 1)
    finally:
        client.close()
        server.stop()
    out = (
        ROOT
        / "bench"
        / "results"
        / f"hostile-{time.strftime('%Y%m%d-%H%M%S')}{'-' + args.label if args.label else ''}.json"
    )
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
