"""CI smoke versions of the benchmark and the loss test: seconds long, asserting correctness only
(every webhook delivered, no 5xx, nothing lost); timings are the full scripts' business."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import loss
from bench import run as bench


def test_benchmark_smoke(tmp_path: Path) -> None:
    report = bench.main(["--quick", "--out", str(tmp_path / "bench.json")])
    assert (tmp_path / "bench.json").exists()
    assert {r["target"] for r in report["ready"]} >= {"starlette (bare)", "connexion (minimal)", "paymock (memory)"}
    for run in report["runs"]:
        assert run["non_200"] == {} and not run["client_errors"], run
        assert run["ok"] == run["requests"] > 0, run
        if run["target"].startswith("paymock"):
            assert run["webhooks_all_delivered"] and run["webhooks_acked"] == run["ok"], run
            assert run["duplicate_acks"] == 0, run
    assert {row["payments"] for row in report["listing"]} == {100, 500}
    assert all(row["bytes"] > 0 for row in report["listing"])


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_loss_smoke(store: str, tmp_path: Path) -> None:
    spec = "memory" if store == "memory" else f"sqlite:{tmp_path / 'loss.db'}"
    args = ["--quick", "--count", "600", "--schedule-s", "5", "--down", "0.5", "--store", spec]
    args += ["--out", str(tmp_path / "loss.json")]
    assert loss.main(args) == 0, (tmp_path / "loss.json").read_text()
