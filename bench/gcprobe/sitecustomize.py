"""Collector pauses of a process, for bench/ab.py --gc-probe (loaded through PYTHONPATH).

Times every collection by generation with gc.callbacks and, at exit, writes count, total and
longest pause per generation as JSON to $PAYMOCK_GC_PROBE_OUT. Only imported when that is set.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import time
from typing import Any

_OUT = os.environ.get("PAYMOCK_GC_PROBE_OUT")
_pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
_started = [0.0]


def _callback(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        _pauses[info["generation"]].append(time.perf_counter() - _started[0])


def _write() -> None:
    stats = {
        f"gen{g}": {
            "collections": len(p),
            "total_ms": round(sum(p) * 1000, 1),
            "max_ms": round(max(p, default=0) * 1000, 2),
        }
        for g, p in _pauses.items()
    }
    with open(_OUT, "w") as out:  # type: ignore[arg-type]
        json.dump(stats, out)


if _OUT:
    gc.callbacks.append(_callback)
    atexit.register(_write)
