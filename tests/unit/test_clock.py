"""`iso`: the datetime-free formatting gives datetime's string for every timestamp."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from paymock.domain.clock import iso


def reference(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Rounding edges: half a microsecond either side of a millisecond and of a second, and negatives.
EDGES = [
    0.0,
    -0.0,
    1.0,
    0.9999995,
    0.0000005,
    -0.0000005,
    -1.5,
    1_700_000_000.0005,
    1_700_000_000.9995,
    1_700_000_000.9999995,
    1_700_000_000.123456,
    253_402_300_799.9999,  # the last fast-path second (9999-12-31T23:59:59)
    253_402_300_800.0,  # year 10000 is out of datetime's range either way
]


@pytest.mark.parametrize("ts", EDGES[:-1])
def test_edges(ts: float):
    assert iso(ts) == reference(ts)


def test_random_timestamps_and_every_millisecond_boundary():
    rng = random.Random(20261127)
    cases = [rng.uniform(0, 4e9) for _ in range(20_000)]
    cases += [rng.uniform(-6e10, 2.5e11) for _ in range(5_000)]  # years 1..9890, through the datetime path
    cases += [
        second + ms / 1000 + nudge
        for second in (0, 1_700_000_000)
        for ms in range(1000)
        for nudge in (0.0, 0.0005, -0.0005, 0.0000005, 0.0009995)
    ]
    assert [ts for ts in cases if iso(ts) != reference(ts)] == []


def test_none_and_the_cached_second_does_not_leak_between_calls():
    assert iso(None) is None
    assert iso(1_700_000_000.5) == "2023-11-14T22:13:20.500Z"
    assert iso(1_700_000_001.25) == "2023-11-14T22:13:21.250Z"
    assert iso(1_700_000_000.75) == "2023-11-14T22:13:20.750Z"  # back a second: not the cached one
    with pytest.raises((ValueError, OverflowError, OSError)):
        iso(EDGES[-1])  # year 10000: the fast path ends there, and datetime refuses it
