"""What a hostile webhook receiver costs a real `paymock serve`: RSS, /healthz while it attacks, time per attempt.

    python bench/hostile_receiver.py                           # every attack, ~1 min here
    python bench/hostile_receiver.py --modes endless_header --payments 10
    python bench/hostile_receiver.py --http-client httpx       # the other sender (PAYMOCK_HTTP_CLIENT)
    python bench/hostile_receiver.py --server-pythonpath DIR   # the server from another tree (DIR/paymock)

For the baseline (a polite receiver answering every webhook 503 at once: the same two attempts per
payment, none of them hostile) and then each attack of tests/hostile/receivers.py: a fresh server
(PAYMOCK_WEBHOOK_TIMEOUT as given, 5 s by default as shipped; time scale 0.001), `--payments`
creates at once pointing at the receiver, RSS sampled and /healthz timed every 50 ms until every
delivery settled (bounded by --deadline), then every read the attack touched (delivery list and
details, payment details, listing) asked once. Records per mode: RSS idle/peak/growth, /healthz
p50/max during the attack, attempt latency (median/max, from the delivery log), the attack's duration,
the statuses of the reads after it, and the ratios to the baseline. Writes
bench/results/hostile-receiver-<time>.json. Loopback only; every loop and process bounded and stopped.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import BENCH, machine, paymock_proc, receiver, table
from tests.hostile.receiver_attack import PAYMENTS, attack, attempt_latencies_ms, prepare, reads_after
from tests.hostile.receivers import MODES, HostileReceiver

BASELINE = "polite_503"


def one(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    env = {
        "PAYMOCK_TIME_SCALE": "0.001",
        "PAYMOCK_CALLBACK_HOSTS": "127.0.0.1",
        "PAYMOCK_WEBHOOK_TIMEOUT": str(args.timeout),
        "PAYMENT_WEBHOOK_SECRET": "bench-secret-0123456789",
        "PAYMOCK_ACCESS_LOG": "false",
    }
    if args.http_client:
        env["PAYMOCK_HTTP_CLIENT"] = args.http_client
    if args.server_pythonpath:
        env["PYTHONPATH"] = args.server_pythonpath
    server = paymock_proc(f"paymock-{mode}", env).start()
    try:
        assert server.process is not None
        prepare(server.url)
        tag = mode.replace("_", "")
        if mode == BASELINE:
            with receiver(refuse=1.0) as url:
                figures = attack(server.url, server.process.pid, url + "/hook", tag, args.payments, args.deadline)
                statuses, details = reads_after(server.url, tag, args.payments)
        else:
            hostile = HostileReceiver(mode, retry_after=args.retry_after, max_s=args.deadline)
            with hostile:
                figures = attack(server.url, server.process.pid, hostile.url(), tag, args.payments, args.deadline)
                statuses, details = reads_after(server.url, tag, args.payments)
    finally:
        server.stop()
    latencies = attempt_latencies_ms(details)
    probes = sorted(figures.healthz_s)
    return {
        "mode": mode,
        "rss_idle_mb": round(figures.rss_idle_mb, 1),
        "rss_peak_mb": round(figures.rss_peak_mb, 1),
        "rss_growth_mb": round(figures.rss_growth_mb, 1),
        "healthz_probes": len(probes),
        "healthz_p50_ms": round(statistics.median(probes) * 1000, 1) if probes else None,
        "healthz_max_ms": round(figures.healthz_max_s * 1000, 1),
        "attempts": len(latencies),
        "attempt_median_ms": round(statistics.median(latencies), 1) if latencies else None,
        "attempt_max_ms": round(max(latencies), 1) if latencies else None,
        "duration_s": round(figures.duration_s, 2),
        "settled": figures.settled,
        "creates": dict(sorted({str(s): figures.creates.count(s) for s in figures.creates}.items())),
        "answers_during": {str(k): v for k, v in sorted(figures.answers.items())},
        "reads_after": {str(k): v for k, v in sorted(statuses.items())},
        "errors": sorted({a["error"] or str(a["status_code"]) for d in details for a in d["attempts"]})[:3],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="*", default=list(MODES), choices=MODES)
    parser.add_argument("--payments", type=int, default=PAYMENTS)
    parser.add_argument("--timeout", type=float, default=5.0, help="PAYMOCK_WEBHOOK_TIMEOUT, seconds")
    parser.add_argument("--http-client", default=None, help="PAYMOCK_HTTP_CLIENT (http11, httpx)")
    parser.add_argument("--retry-after", default="1e400", help="what the retry_after mode answers")
    parser.add_argument("--deadline", type=float, default=90.0, help="seconds one attack may last at most")
    parser.add_argument("--server-pythonpath", default=None, help="PYTHONPATH for the server (another tree)")
    parser.add_argument("--label", default="", help="a word for the file name (e.g. before)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = [one(BASELINE, args)]
    for mode in args.modes:
        rows.append(one(mode, args))
        print(f"{mode}: {rows[-1]}", file=sys.stderr)
    base = rows[0]
    for row in rows[1:]:
        for key in ("rss_growth_mb", "healthz_max_ms", "attempt_median_ms"):
            if base[key] and row[key] is not None:
                row[f"{key}_x_baseline"] = round(row[key] / base[key], 2)
    columns = ["mode", "rss_growth_mb", "rss_peak_mb", "healthz_p50_ms", "healthz_max_ms", "attempts"]
    columns += ["attempt_median_ms", "attempt_max_ms", "duration_s", "reads_after"]
    print(table(rows, columns))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    label = f"-{args.label}" if args.label else ""
    out = args.out or BENCH / "results" / f"hostile-receiver{label}-{stamp}.json"
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "server_pythonpath")}
    settings["server"] = "another tree (--server-pythonpath)" if args.server_pythonpath else "this tree"
    out.write_text(json.dumps({"machine": machine(), "settings": settings, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out.relative_to(BENCH.parent) if out.is_relative_to(BENCH.parent) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
