"""Measuring a real `paymock serve` while hostile receivers attack it: used by tests/hostile/test_receiver.py
(which bounds the figures loosely) and bench/hostile_receiver.py (which records them).

An attack is PAYMENTS creates at once, all with callbacks to one hostile receiver, under SCENARIO (one
retry, 1 ms scaled after the first attempt); until every delivery has settled (bounded), the server's
RSS is sampled and /healthz timed every 50 ms, and the control API is asked what is pending.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.hostile.request_helpers import rss_mb

SCENARIO = "hostile-two-attempts"
PAYMENTS = 5
PROBE_EVERY_S = 0.05


def prepare(base_url: str) -> None:
    """The scenario every attack runs under: two attempts, so a retry is part of it."""
    doc = {"name": SCENARIO, "description": "one retry", "webhook": {"retry_schedule_ms": [1000]}}
    with httpx.Client(base_url=base_url, timeout=30) as c:
        r = c.put(f"/mock/v1/scenarios/{SCENARIO}", json=doc)
        r.raise_for_status()


def tx_ids(tag: str, payments: int = PAYMENTS) -> list[str]:
    return [f"tx_{tag}_{n}" for n in range(payments)]


@dataclass
class Attack:
    rss_idle_mb: float
    rss_peak_mb: float = 0.0
    healthz_s: list[float] = field(default_factory=list)  # every probe's time while the attack ran
    creates: list[int] = field(default_factory=list)
    answers: Counter[int] = field(default_factory=Counter)  # statuses of the probes' answers meanwhile (0: none)
    duration_s: float = 0.0
    settled: bool = False

    @property
    def rss_growth_mb(self) -> float:
        return self.rss_peak_mb - self.rss_idle_mb

    @property
    def healthz_max_s(self) -> float:
        return max(self.healthz_s, default=0.0)


def attack(base_url: str, pid: int, url: str, tag: str, payments: int = PAYMENTS, deadline_s: float = 60.0) -> Attack:
    figures = Attack(rss_idle_mb=rss_mb(pid))

    def create(tx_id: str) -> int:
        body = {"version": "v2", "tx_id": tx_id, "order_id": 1, "user_id": 1, "amount": 1000, "callback_url": url}
        with httpx.Client(base_url=base_url, timeout=deadline_s) as c:
            return c.post("/api/v2/payments", json=body, headers={"X-Mock-Scenario": SCENARIO}).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(payments) as pool, httpx.Client(base_url=base_url, timeout=deadline_s) as probe:
        futures = [pool.submit(create, tx) for tx in tx_ids(tag, payments)]
        while time.monotonic() - started < deadline_s:
            figures.rss_peak_mb = max(figures.rss_peak_mb, rss_mb(pid))
            t0 = time.monotonic()
            _status(figures, probe, "/healthz")
            figures.healthz_s.append(time.monotonic() - t0)
            if all(f.done() for f in futures):
                pending = _status(figures, probe, "/mock/v1/deliveries", {"state": "pending"})
                if pending is not None and pending.status_code == 200 and pending.json()["total"] == 0:
                    figures.settled = True
                    break
            time.sleep(PROBE_EVERY_S)
        figures.creates = [f.result() for f in futures]
    figures.duration_s = time.monotonic() - started
    return figures


def _status(
    figures: Attack, probe: httpx.Client, path: str, params: dict[str, str] | None = None
) -> httpx.Response | None:
    """GET `path`, its status counted in `figures.answers`; a connection the server dropped counts as 0."""
    try:
        answer = probe.get(path, params=params)
    except httpx.TransportError:
        figures.answers[0] += 1
        return None
    figures.answers[answer.status_code] += 1
    return answer


def reads_after(base_url: str, tag: str, payments: int = PAYMENTS) -> tuple[Counter[int], list[dict[str, Any]]]:
    """What the attack touched, read back: the statuses of every answer, and each delivery's detail."""
    statuses: Counter[int] = Counter()
    details: list[dict[str, Any]] = []
    with httpx.Client(base_url=base_url, timeout=60) as c:
        listing = c.get("/mock/v1/deliveries", params={"limit": 100})
        statuses[listing.status_code] += 1
        by_tx = {d["tx_id"]: d for d in listing.json().get("deliveries", [])} if listing.status_code == 200 else {}
        for tx_id in tx_ids(tag, payments):
            statuses[c.get(f"/mock/v1/payments/pay_{tx_id}").status_code] += 1
            if tx_id in by_tx:
                detail = c.get(f"/mock/v1/deliveries/{by_tx[tx_id]['delivery_id']}")
                statuses[detail.status_code] += 1
                if detail.status_code == 200:
                    details.append(detail.json())
        statuses[c.get("/api/v2/pending-payments").status_code] += 1
    return statuses, details


def attempt_latencies_ms(details: list[dict[str, Any]]) -> list[float]:
    return [a["latency_ms"] for d in details for a in d["attempts"] if not a["simulated"]]
