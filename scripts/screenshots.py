"""Screenshot every console page with a real headless Chromium (for the README).

    python scripts/screenshots.py [--out docs/screenshots] [--chromium /usr/bin/chromium]

Starts `paymock serve` and `paymock console` on free loopback ports, seeds a few payments through the
provider API (webhooks go to a loopback receiver), then drives Chromium over the DevTools protocol:
open each page, wait until Streamlit reports the script finished, capture a PNG. Everything binds
127.0.0.1 and every wait is bounded.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from websockets.sync.client import ClientConnection, connect

from paymock.testing.process import ServerProcess, free_port
from paymock.testing.receiver import WebhookReceiver

SECRET = "screenshot-secret"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--hide-scrollbars"]
WIDTH = 1400


@dataclass(frozen=True)
class Shot:
    file: str
    path: str  # the page's url path in the console
    wait_for: str  # text that shows the page has its data
    height: int
    click: str | None = None  # a button to press first (e.g. run a script)
    after_click: str | None = None


SHOTS = [
    Shot("payments.png", "/?payment=pay_tx_1006", "Completed (", 2750),
    Shot("webhooks.png", "/webhooks?delivery=evt_completed_tx_1003", "matching deliveries", 2600),
    Shot("scenarios.png", "/scenarios", "Active scenario", 1900, click="Validate", after_click="Valid:"),
    Shot("scripts.png", "/scripts", "Script YAML", 1300, click="Run script", after_click="step(s) passed"),
    Shot("settings.png", "/settings", "Server health", 1150),
]


def seed(api: str, receiver: WebhookReceiver) -> None:
    """A few payments that show every outcome: completed, retried, failed, pending, dropped."""
    receiver.status_for_path["/hook/down"] = 500
    with httpx.Client(base_url=api, timeout=30) as c:
        c.post("/mock/v1/reset").raise_for_status()
        plan = [
            ("tx_1001", None, 1000, "/hook/ok"),
            ("tx_1002", None, 25000, "/hook/ok"),
            ("tx_1003", "webhook-flaky", 1500, "/hook/ok"),
            ("tx_1004", "declined", 4002, "/hook/ok"),
            ("tx_1005", "webhook-bad-signature", 900, "/hook/ok"),
            ("tx_1006", "webhook-short-retries", 3000, "/hook/down"),
            ("manual_1007", "manual-confirm", 12000, "/hook/ok"),
            ("tx_1008", "webhook-drop", 4040, "/hook/ok"),
        ]
        for n, (tx_id, scenario, amount, path) in enumerate(plan):
            body = {
                "version": "v2",
                "tx_id": tx_id,
                "order_id": 500 + n,
                "user_id": 1 + n % 3,
                "amount": amount,
                "callback_url": receiver.url(path),
            }
            headers = {"X-Mock-Scenario": scenario} if scenario else {}
            c.post("/api/v2/payments", json=body, headers=headers).raise_for_status()
        runtime = {
            "name": "qa-slow-receiver",
            "description": "Deliver after 2 s (scaled) and retry quickly: a run-time scenario written in the console.",
            "webhook": {"delay_ms": 2000, "retry_schedule_ms": [500, 1000]},
        }
        c.put("/mock/v1/scenarios/qa-slow-receiver", json=runtime).raise_for_status()
        for tx_id in ("tx_1003", "tx_1006"):  # let the retries play out (milliseconds at this time scale)
            c.get("/mock/v1/wait-for-delivery", params={"tx_id": tx_id, "timeout_ms": 10000}).raise_for_status()


def wait_http(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout_s} s")


@contextmanager
def process(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """`command` in a process group of its own; on exit the whole group is stopped, and gone.

    Chromium's helpers (network service, renderers) outlive its main process by a moment and keep
    writing into the profile directory: removing it then failed with "Directory not empty".
    """
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        yield proc
    finally:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        deadline = time.monotonic() + 10
        while _signal_group(proc.pid, 0) and time.monotonic() < deadline:  # helpers still exiting
            time.sleep(0.05)
        _signal_group(proc.pid, signal.SIGKILL)


def _signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to the group (0: only ask whether it still has a process); False if it has none."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


class Page:
    """One Chromium tab over the DevTools protocol (only the few commands needed here)."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    def call(self, method: str, **params: object) -> dict:
        msg_id = next(self._ids)
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            reply = json.loads(self._ws.recv(timeout=30))
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
        raise RuntimeError(f"{method}: no reply")

    def eval(self, expression: str) -> object:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def wait_idle(self, text: str, timeout_s: float = 30.0) -> None:
        """Until Streamlit's script is not running, `text` is on the page and no widget is still loading."""
        check = (
            "(() => { const app = document.querySelector('[data-testid=\"stApp\"]');"
            " return !!app && app.getAttribute('data-test-script-state') === 'notRunning'"
            f" && document.body.innerText.includes({json.dumps(text)})"
            # widgets load lazily: their skeletons must be gone too
            ' && !document.querySelector(\'[data-testid^="stSkeleton"], [data-testid="stAppSkeleton"]\'); })()'
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.eval(check):
                time.sleep(1.5)  # charts render after the script finishes
                return
            time.sleep(0.2)
        raise RuntimeError(f"page never showed {text!r}")

    def click(self, label: str) -> None:
        found = self.eval(
            "(() => { const b = [...document.querySelectorAll('button')]"
            f".find(b => b.innerText.trim() === {json.dumps(label)}); if (b) b.click(); return !!b; }})()"
        )
        if not found:
            raise RuntimeError(f"no button {label!r}")


def take(chromium: str, console_url: str, out: Path, shots: list[Shot]) -> list[Path]:
    port = free_port()
    with tempfile.TemporaryDirectory() as profile:
        flags = [*CHROMIUM_FLAGS, f"--remote-debugging-port={port}", "--remote-debugging-address=127.0.0.1"]
        with process([chromium, *flags, f"--user-data-dir={profile}", "about:blank"], dict(os.environ)):
            wait_http(f"http://127.0.0.1:{port}/json/version")
            written = []
            for shot in shots:
                target = httpx.put(f"http://127.0.0.1:{port}/json/new?about:blank", timeout=10).json()
                with connect(target["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024, open_timeout=10) as ws:
                    page = Page(ws)
                    page.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=shot.height,
                              deviceScaleFactor=1, mobile=False)  # fmt: skip
                    page.call("Page.navigate", url=console_url + shot.path)
                    page.wait_idle(shot.wait_for)
                    if shot.click:
                        page.click(shot.click)
                        page.wait_idle(shot.after_click or shot.wait_for)
                    png = base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"])
                httpx.get(f"http://127.0.0.1:{port}/json/close/{target['id']}", timeout=10)
                path = out / shot.file
                path.write_bytes(png)
                written.append(path)
            return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "screenshots")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--api-url", help="use this running paymock (its state is reset) instead of starting one")
    parser.add_argument("--only", nargs="*", metavar="FILE", help="take only these (e.g. payments.png)")
    args = parser.parse_args(argv)
    shots = [s for s in SHOTS if not args.only or s.file in args.only]
    if not Path(args.chromium).exists():
        print(f"screenshots: no Chromium at {args.chromium} (apt-get install chromium)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    receiver = WebhookReceiver(SECRET)
    env = {"PAYMENT_WEBHOOK_SECRET": SECRET, "PAYMOCK_TIME_SCALE": "0.001", "SERVICE_AUTH_TOKEN": ""}
    server: ServerProcess | None = None
    if args.api_url:
        api_url = args.api_url
    else:
        server = ServerProcess(env).wait_ready()
        api_url = server.base_url
    try:
        seed(api_url, receiver)
        console_port = free_port()
        scripts_dir = tempfile.TemporaryDirectory(prefix="paymock-scripts-")
        console_env = {
            **os.environ,
            "SERVICE_AUTH_TOKEN": "",
            "PAYMOCK_CALLBACK_URL": receiver.url("/hook/{tx_id}"),
            "PAYMOCK_CONSOLE_SCRIPTS": scripts_dir.name,
        }
        command = [sys.executable, "-m", "paymock.cli", "console", "--port", str(console_port)]
        with process([*command, "--api-url", api_url], console_env):
            console_url = f"http://127.0.0.1:{console_port}"
            wait_http(console_url + "/_stcore/health")
            for path in take(args.chromium, console_url, args.out, shots):
                print(path)
        scripts_dir.cleanup()
    finally:
        if server is not None:
            server.stop()
        receiver.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
