"""Where start-up goes, paymock's and the minimal Connexion app's, phase by phase, in instructions.

    python bench/ready_phases.py       # needs valgrind on PATH; ~5 min on a busy 2-core machine

Each side runs in a fresh interpreter under valgrind's callgrind (PYTHONHASHSEED=0, the collector off
as `paymock serve` has it during start-up), once per stop point: the instructions of a phase are the
difference to the run that stopped before it. Instructions, unlike wall or CPU time, do not move with
the machine's load (repeat counts agree within ~0.5%), so a few runs say where the difference is.

- paymock: `imports` (what `paymock serve` imports before building the app: its command line, logging,
  paymock.app, uvicorn), `app` (create_app: the scenario files, then both specs, each checked and
  loaded by Connexion's add_api), `stack` (Connexion's middleware stack and paymock's lifespan, built
  by the lifespan's startup, as uvicorn starts it). `files` stops after the imports plus loading the
  scenario files and specs alone: the part of `app` that is paymock's own.
- minimal Connexion (`bench/baselines/connexion_app.py`): `imports` (uvicorn's command line, Connexion,
  what the module imports), `app` (the module's body: one spec, add_api), `stack`.

Writes bench/results/ready-phases-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import BENCH, ROOT, machine

STOPS = {"paymock": ("imports", "files", "app", "stack"), "connexion": ("imports", "app", "stack")}


async def _lifespan_startup(app: Any) -> None:
    """Send the ASGI lifespan startup, as uvicorn does, and return once it is answered."""
    answered = asyncio.Event()

    async def receive() -> dict[str, str]:
        return {"type": "lifespan.startup"} if not answered.is_set() else await asyncio.Future()

    async def send(_message: Any) -> None:
        answered.set()

    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send))
    await answered.wait()
    task.cancel()


def child(side: str, stop: str) -> None:
    """Run `side`'s start-up up to and including the phase `stop`."""
    gc.disable()
    os.environ.setdefault("PAYMENT_WEBHOOK_SECRET", "ready-phases-secret-0123456789")
    if side == "paymock":
        from paymock.cli import main

        main.build_parser()
        from paymock import logs

        logs.configure("INFO", "text")
        import uvicorn

        from paymock.app import create_app
        from paymock.resources import fixtures_dir, load_spec
        from paymock.settings import Settings

        if stop == "imports":
            return
        if stop == "files":
            from paymock.domain.scenarios.loading import load_paths

            load_paths([fixtures_dir()])
            load_spec("provider.yaml")
            load_spec("control.yaml")
            return
        app = create_app(Settings.from_env())
    else:
        import connexion  # noqa: F401
        import uvicorn.main  # noqa: F401
        from connexion.resolver import Resolver  # noqa: F401
        from starlette.responses import JSONResponse  # noqa: F401

        from paymock.resources import load_spec

        if stop == "imports":
            return
        from bench.baselines.connexion_app import app
    if stop == "app":
        return
    asyncio.run(_lifespan_startup(app))


def instructions(side: str, stop: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        cmd += [sys.executable, __file__, "--child", side, stop]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
        summary = re.search(r"^summary: (\d+)", out.read_text(), re.MULTILINE)
    if summary is None:
        raise RuntimeError(f"no callgrind summary for {side} {stop}")
    return int(summary.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--child", nargs=2, metavar=("SIDE", "STOP"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help="default: bench/results/ready-phases-<time>.json")
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    if shutil.which("valgrind") is None:
        parser.error("needs valgrind on PATH (apt-get install valgrind)")
    report: dict[str, Any] = {"machine": machine(), "sides": {}}
    for side, stops in STOPS.items():
        counts = {stop: instructions(side, stop) for stop in stops}
        phases = {
            "imports": counts["imports"],
            "app": counts["app"] - counts["imports"],
            "stack": counts["stack"] - counts["app"],
        }
        if "files" in counts:  # part of `app`: the scenario files and specs, loaded alone
            phases["files (in app)"] = counts["files"] - counts["imports"]
        phases["total"] = counts["stack"]
        report["sides"][side] = {"cumulative": counts, "phases": phases}
        print(side, {stop: f"{n / 1e6:,.0f} M" for stop, n in phases.items()}, flush=True)
    out = args.out or BENCH / "results" / f"ready-phases-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
