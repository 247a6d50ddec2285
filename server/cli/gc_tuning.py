"""Garbage-collector settings for a long-running `paymock serve` process.

Measured (bench/README.md, "Garbage collector"): with CPython's defaults 20k creates at c=32 spent
~3.3 s in the cyclic collector (~10% of the run), ~2.1 s of it in ~28 full collections of up to
~120 ms each (most likely in-flight request objects that get promoted, then die in the oldest
generation): those pauses were the webhook p99. With the settings below: ~0.1 s, and no full collection in 100k
creates. Three changes, each common for servers:

- no collections while the server's start-up imports Connexion and builds the app (most of the
  ~110k start-up objects, ~1,800 of them garbage): they found next to nothing to free and took
  ~0.1 s of a ~0.8 s start here;
- then freeze what start-up built (modules, the parsed specs, Connexion's validators), without a
  full collection first (another ~45 ms): the collector never scans it again, and the start-up
  garbage it keeps is a few hundred KB;
- collect the youngest generation after 10,000 net allocations instead of 700: almost everything
  a request allocates is freed by reference counting before then, so far fewer objects reach the
  older generations; the middle one every 2 young collections instead of 10, which keeps its
  pause at ~25 ms instead of ~50-80 ms (what it scans is the payments stored since the last one);
  and the oldest one after 100 middle collections instead of 10 (~250k creates instead of ~70k):
  a full collection scans every stored payment (263 ms at ~70k here), and what reaches the oldest
  generation is stored payments, not garbage.

Only the serving process applies this (an embedded app leaves its host process's GC alone).
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger("paymock")

# (youngest, middle, oldest): gen0 every 10,000 net allocations, gen1 every 2 gen0, gen2 every 100 gen1
THRESHOLDS = (10_000, 2, 100)


def pause() -> None:
    """Before start-up's imports: no collections until tune()."""
    gc.disable()


def resume() -> None:
    """Start-up failed: collect as before, nothing frozen, thresholds untouched."""
    gc.enable()


def tune() -> None:
    """After start-up: freeze the heap built so far, set the thresholds, resume collecting."""
    already = gc.get_freeze_count()  # Python 3.12 starts with a few hundred of its own
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    gc.enable()
    frozen = gc.get_freeze_count() - already
    log.info("garbage collector tuned: %d start-up objects frozen, thresholds %s", frozen, THRESHOLDS)
