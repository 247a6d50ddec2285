"""Many requests whose bodies never finish arriving: each is cut off at the body deadline (408) or refused
at once when the bodies held together reach their cap (503 + Retry-After); memory and /healthz hold
meanwhile. On main before this, 600 such PUTs took the server from 144 to 338 MB and /healthz to 5.8 s,
and were held for as long as their clients liked."""

from __future__ import annotations

import socket
import time

from paymock.domain.limits import MAX_BODY_SECONDS
from paymock.testing.process import ServerProcess
from tests.hostile.request_helpers import Probe, parse_answer, read_until, rss_mb, stalled_put

CONNECTIONS = 300
HANG_S = 3.0  # how long the probe watches while they all hang
HEALTHZ_BOUND_S = 2.0
RSS_GROWTH_BOUND_MB = 150.0


def test_request_bodies_that_never_finish_are_cut_off_and_cost_bounded_memory(server: ServerProcess) -> None:
    pid = server.process.pid
    before_mb = rss_mb(pid)
    sockets: list[socket.socket] = []
    try:
        with Probe(server.base_url, pid) as watch:
            for _ in range(CONNECTIONS):
                sockets.append(stalled_put(server.port))
            time.sleep(HANG_S)
        deadline = time.monotonic() + MAX_BODY_SECONDS + 20
        answers = [parse_answer(read_until(sock, deadline)) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    statuses = sorted({a.status_code for a in answers})
    assert set(statuses) <= {408, 503}, statuses  # 0: no answer at all, the request was still held
    for answer in answers:
        assert answer.headers["content-type"].startswith("application/problem+json")
        if answer.status_code == 503:
            assert answer.headers["retry-after"] == "2"
    assert not watch.failures, watch.failures
    assert watch.worst < HEALTHZ_BOUND_S, f"/healthz took {watch.worst:.2f} s while the bodies hung"
    growth = watch.max_rss_mb - before_mb
    assert growth < RSS_GROWTH_BOUND_MB, f"RSS {before_mb:.0f} -> {watch.max_rss_mb:.0f} MB"
    print(f"RSS {before_mb:.0f} -> {watch.max_rss_mb:.0f} MB, /healthz worst {watch.worst:.2f} s, {statuses}")
