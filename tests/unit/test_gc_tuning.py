"""The serving process's collector settings (applied in a child process: they are process-wide)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from paymock.cli.gc_tuning import THRESHOLDS
from paymock.settings import Settings, SettingsError

PROBE = """
import gc
from paymock.cli import gc_tuning
before = gc.get_freeze_count()
gc_tuning.pause()
import paymock.app
paused = gc.isenabled()
gc_tuning.tune()
print(before, int(paused), int(gc.isenabled()), gc.get_freeze_count(), *gc.get_threshold())
"""


def test_tune_freezes_the_start_up_heap_and_raises_the_young_threshold():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    before, paused_enabled, enabled, frozen, *thresholds = map(int, out.stdout.split())
    assert not paused_enabled and enabled  # off while start-up imports, on again after
    # Connexion's and paymock's start-up objects (Python 3.12 starts with a few hundred frozen already)
    assert frozen - before > 10_000
    assert tuple(thresholds) == THRESHOLDS


def test_gc_setting():
    assert Settings.from_env({}).gc_tuned
    assert Settings.from_env({"PAYMOCK_GC": "TUNED"}).gc_tuned
    assert not Settings.from_env({"PAYMOCK_GC": "default"}).gc_tuned
    with pytest.raises(SettingsError, match="PAYMOCK_GC='off': expected tuned or default"):
        Settings.from_env({"PAYMOCK_GC": "off"})
