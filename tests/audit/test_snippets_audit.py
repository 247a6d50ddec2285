"""docs/snippets/: each language's handle_webhook, served by its own harness (`... serve`), passes the audit
with no warning. Run for each runtime found on the machine (Go and Node are skipped where not installed)."""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from paymock.audit import audit

SNIPPETS = Path(__file__).resolve().parents[2] / "docs" / "snippets"
SECRET = "snippet-audit-sëcret"  # non-ASCII: every language must sign and verify the UTF-8 bytes
START_TIMEOUT_S = 120  # `go run` compiles first


def _runtimes() -> list[Any]:
    node, go = shutil.which("node"), shutil.which("go")
    return [
        pytest.param([sys.executable, "verify_webhook.py", "serve"], id="python"),
        pytest.param(
            [node or "node", "verify_webhook.js", "serve"],
            id="node",
            marks=pytest.mark.skipif(node is None, reason="node is not installed on this machine"),
        ),
        pytest.param(
            [go or "go", "run", "verify_webhook.go", "serve"],
            id="go",
            marks=pytest.mark.skipif(go is None, reason="go is not installed on this machine"),
        ),
    ]


def _port(process: subprocess.Popen[str]) -> int:
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            line = process.stdout.readline()
            assert line.strip().isdigit(), f"expected the port, got {line!r}"
            return int(line)
        assert process.poll() is None, f"the snippet exited with {process.returncode}"
    raise AssertionError(f"no port printed within {START_TIMEOUT_S} s")


@pytest.mark.parametrize("command", _runtimes())
def test_the_snippets_receiver_passes_the_audit(command: list[str]) -> None:
    env = {**os.environ, "PAYMENT_WEBHOOK_SECRET": SECRET}
    # its own process group: `go run` starts the compiled receiver as a child, which must stop with it
    process = subprocess.Popen(
        command, cwd=SNIPPETS, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        url = f"http://127.0.0.1:{_port(process)}/webhook"
        report = audit(url, secret=SECRET)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    report.assert_passed(allow_warnings=False)
    assert report.check("stale-timestamp").status == 401
    assert report.check("not-the-payload").status == 400
