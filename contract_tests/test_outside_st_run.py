"""The outside check: Schemathesis' own command line, at its defaults, against a real `paymock serve`.

What a user does: `st run <base>/openapi.json --checks all --url <base>` from a directory of their
own, so none of this project's settings apply (no schemathesis.toml, no hooks, no extra accepted
statuses). Every operation of each served spec is selected (st's default), so operations added to a
spec later are fuzzed here without editing this file. Each spec gets its own server, and both runs go
at once: most of a run is long-polls waiting out their `timeout_ms`, not CPU.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from paymock.testing.process import ServerProcess

TOKEN = "outside-check-token-0123456789"
SPECS = ("/api/v2", "/mock/v1")
# Bounds the fuzzing and stateful phases only (st's default is 100 examples per operation): with it both
# runs take ~1-2 min on 2 cores. The coverage phase, which walks every schema boundary (a 2 s long-poll
# included), is not bounded by it and takes most of the time.
MAX_EXAMPLES = "10"
RUN_TIMEOUT_S = 600  # a hung run fails the test instead of holding CI


def _server() -> ServerProcess:
    env = {
        "SERVICE_AUTH_TOKEN": TOKEN,  # with a token, ignored_auth probes every operation without one
        "PAYMENT_WEBHOOK_SECRET": "outside-check-secret",
        "PAYMOCK_TIME_SCALE": "0.001",  # retry schedules in milliseconds: deliveries settle during the run
        # fuzzed callback_urls name any host: webhooks go to loopback only, the rest is refused
        "PAYMOCK_CALLBACK_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
    }
    return ServerProcess(env=env).wait_ready()


def _st_run(base_url: str, spec: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{base_url}{spec}/openapi.json",
            "--checks",
            "all",
            "--url",
            f"{base_url}{spec}",
            "-H",
            f"Authorization: Bearer {TOKEN}",
            "-n",
            MAX_EXAMPLES,
            "--no-color",
        ],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_st_run_at_its_defaults_finds_nothing_in_either_served_spec(tmp_path: Path) -> None:
    empty = tmp_path / "empty"  # st reads ./schemathesis.toml: run where there is none
    empty.mkdir()
    servers: list[ServerProcess] = []
    try:
        servers = [_server() for _ in SPECS]
        runs = [_st_run(server.base_url, spec, empty) for server, spec in zip(servers, SPECS, strict=True)]
        outputs = []
        for run in runs:
            try:
                out, _ = run.communicate(timeout=RUN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                run.kill()
                out, _ = run.communicate()
                out += f"\n(killed after {RUN_TIMEOUT_S} s)"
            outputs.append(out)
    finally:
        for server in servers:
            server.stop()
    failed = [
        f"===== st run {spec} exited {run.returncode}\n{out}"
        for spec, run, out in zip(SPECS, runs, outputs, strict=True)
        if run.returncode != 0
    ]
    assert not failed, "\n".join(failed)
    for out in outputs:  # exit 0 with nothing tested would also be a failure of this check
        assert re.search(r"\d+ generated, [1-9]\d* passed", out) and not re.search(r"\d+ failures?\b", out), out
