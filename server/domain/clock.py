"""Time, injected so retries, delays and timestamps are testable without sleeping."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock seconds since the epoch (for timestamps)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for scheduling)."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


# The formatted second of the last timestamp: a payment's timestamps and its webhook's fall in the same
# second, and building a datetime for each was ~1.8% of the server's CPU per create (py-spy, c=32).
_last_second: tuple[int, str] = (0, "1970-01-01T00:00:00")
# Beyond these, strftime's %Y is not ISO's four digits: the datetime path formats them.
_FAST_RANGE = (0, 253_402_300_800)  # 1970-01-01 .. 10000-01-01


def iso(ts: float | None) -> str | None:
    """ISO-8601 UTC with a Z, millisecond precision: 2024-01-01T12:00:00.123Z.

    The same string as ``datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")``: the
    fraction is rounded to microseconds half-to-even (as datetime does), then cut to milliseconds.
    """
    global _last_second
    if ts is None:
        return None
    fraction, whole = math.modf(ts)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    elif micros < 0:
        whole, micros = whole - 1, micros + 1_000_000
    second = int(whole)
    if not _FAST_RANGE[0] <= second < _FAST_RANGE[1]:
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    cached_second, prefix = _last_second
    if second != cached_second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _last_second = (second, prefix)
    return f"{prefix}.{micros // 1000:03d}Z"
