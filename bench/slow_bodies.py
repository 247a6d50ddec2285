"""Many request bodies that never finish (review of issue 14): N connections each send
`PUT /mock/v1/scenarios/u?dry_run=true` with Content-Length ~1 MB, part of the body, then nothing.
Reports the server's RSS before and at its peak, the slowest /healthz while they hang, and what each
hung request was answered (0: nothing, it is still held).

    python bench/slow_bodies.py                    # 600 connections, 200 KB each, 5 s of hanging
    python bench/slow_bodies.py --connections 300

Every loop is bounded: connections are opened once, watched --hang s, then each answer is awaited at
most --wait s. Run it against an older tree with PYTHONPATH pointing at a directory whose `paymock`
is that tree's server/ (the figures in bench/README.md, "Slow request bodies", were taken so)."""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from paymock.testing.process import ServerProcess  # noqa: E402
from tests.hostile.request_helpers import TOKEN, Probe, parse_answer, read_until, rss_mb, stalled_put  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=600)
    parser.add_argument("--hang", type=float, default=5.0, help="seconds /healthz is watched while they hang")
    parser.add_argument("--wait", type=float, default=20.0, help="seconds to wait for the answers after that")
    args = parser.parse_args()
    server = ServerProcess({"SERVICE_AUTH_TOKEN": TOKEN, "PAYMOCK_ACCESS_LOG": "false"}).wait_ready()
    try:
        pid = server.process.pid
        before = rss_mb(pid)
        sockets = []
        with Probe(server.base_url, pid) as watch:
            for _ in range(args.connections):
                sockets.append(stalled_put(server.port))
            time.sleep(args.hang)
        deadline = time.monotonic() + args.wait
        statuses = collections.Counter(parse_answer(read_until(s, deadline)).status_code for s in sockets)
        for sock in sockets:
            sock.close()
        print(
            f"{args.connections} connections: RSS {before:.0f} -> {watch.max_rss_mb:.0f} MB, "
            f"/healthz worst {watch.worst:.2f} s, answers {dict(sorted(statuses.items()))}"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
