"""What `import paymock` costs, with the public surface imported on use (as it is) and up front.

    python bench/import_cost.py --rounds 15

Every pytest run in an environment where paymock is installed imports `paymock` (the plugin is a
`pytest11` entry point), and so do the console and `paymock listen`. Sides, each a fresh interpreter
timed from start to exit, started in turn (the order rotates each round), medians and the paired
differences to the first side:
- `python`: the interpreter alone (the floor);
- `lazy`: `import paymock` (the names come on first use);
- `eager`: `import paymock` then every name of `__all__`, i.e. what importing them up front would cost;
- `pytest-lazy` / `pytest-eager`: a one-test pytest run with only the paymock plugin loaded,
  the test touching nothing / touching every public name.
Writes bench/results/import-cost-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import BENCH, machine

TOUCH_ALL = "import paymock\nfor name in paymock.__all__:\n    getattr(paymock, name)\n"


def sides(work: Path) -> dict[str, list[str]]:
    (work / "test_lazy.py").write_text("def test_nothing():\n    pass\n")
    (work / "test_eager.py").write_text(f"{TOUCH_ALL}\ndef test_nothing():\n    pass\n")
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "paymock.testing.pytest_plugin"]
    return {
        "python": [sys.executable, "-c", "pass"],
        "lazy": [sys.executable, "-c", "import paymock"],
        "eager": [sys.executable, "-c", TOUCH_ALL],
        "pytest-lazy": [*pytest, str(work / "test_lazy.py")],
        "pytest-eager": [*pytest, str(work / "test_eager.py")],
    }


def timed(command: list[str], cwd: Path) -> float:
    env = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PATH": "/usr/bin:/bin"}
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True, timeout=120)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", type=Path, help="default: bench/results/import-cost-<time>.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        commands = sides(work)
        names = list(commands)
        times: dict[str, list[float]] = {name: [] for name in names}
        for round_no in range(args.rounds):
            order = names[round_no % len(names) :] + names[: round_no % len(names)]
            for name in order:
                times[name].append(timed(commands[name], work))
    medians = {name: statistics.median(values) for name, values in times.items()}
    paired = {
        "eager - lazy": statistics.median(e - lz for e, lz in zip(times["eager"], times["lazy"], strict=True)),
        "pytest-eager - pytest-lazy": statistics.median(
            e - lz for e, lz in zip(times["pytest-eager"], times["pytest-lazy"], strict=True)
        ),
    }
    for name in names:
        print(f"{name:14} median {medians[name]:.3f} s")
    for name, value in paired.items():
        print(f"{name:28} paired median {value:+.3f} s")
    out = args.out or BENCH / "results" / f"import-cost-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {"rounds": args.rounds, "machine": machine(), "seconds": times, "medians": medians, "paired": paired},
            indent=2,
        )
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
