"""Screenshot every console page with a real headless Chromium (for the README).

    python scripts/screenshots.py [--out docs/screenshots] [--chromium /usr/bin/chromium]

Starts `paymock serve` and `paymock console` on free loopback ports, seeds a few payments through the
provider API (webhooks go to a loopback receiver), then drives Debian's Chromium with Playwright (the
library the browser tests use; no browser download): open each page, wait until Streamlit reports the
script finished and its charts are drawn, capture a PNG. Everything binds 127.0.0.1 and every wait is
bounded.
"""

from __future__ import annotations

import argparse
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
from playwright.sync_api import Page, expect, sync_playwright

from paymock.testing.process import ServerProcess, free_port
from paymock.testing.receiver import WebhookReceiver

SECRET = "screenshot-secret"
# as the browser tests launch it (tests/console/browser/conftest.py), without scrollbars in the pictures
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--hide-scrollbars"]
WIDTH = 1400
TIMEOUT_MS = 60_000  # one page on a busy machine; bounded all the same


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
    Shot("sessions.png", "/sessions", "live session(s)", 1250),
    # last: the audit sends its own webhooks to the receiver (a recorder that refuses nothing: a report to read)
    Shot("audit.png", "/audit", "Run audit", 1900, click="Run audit", after_click="How to fix it"),
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
            c.get("/mock/v1/wait-for-delivery", params={"tx_id": tx_id, "timeout_ms": 2000}).raise_for_status()
        # a shared server's sessions: two xdist workers' tests and a QA engineer, one payment each
        sessions = [
            ("[gw0] tests/test_checkout.py::test_declined", {"user_ids": [7001]}, "gw0_1"),
            ("[gw1] tests/test_checkout.py::test_completed", {"user_ids": [7002]}, "gw1_1"),
            ("Mina (QA): refunds regression", {"tx_id_prefix": "mina-", "order_ids": [901, 902]}, "mina-1"),
        ]
        for label, claims, tx_id in sessions:
            made = c.post("/mock/v1/sessions", json={"label": label, "claims": claims}).raise_for_status().json()
            body = {"tx_id": tx_id, "order_id": 900, "user_id": 1, "amount": 1000}
            body["callback_url"] = receiver.url("/hook/ok")
            c.post("/api/v2/payments", json=body, headers={"X-Mock-Session": made["session_id"]}).raise_for_status()


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
    """`command` (the console) in a process group of its own; on exit the whole group is stopped, and gone."""
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


def wait_idle(page: Page, text: str) -> None:
    """Until `text` shows, Streamlit's script has finished, no widget is still loading and every chart and
    table has drawn (they draw after the script ends)."""
    expect(page.get_by_text(text).first).to_be_visible()
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")
    expect(page.locator('[data-testid^="stSkeleton"], [data-testid="stAppSkeleton"]')).to_have_count(0)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stVegaLiteChart], [data-testid=stDataFrame]')]"
        ".every(e => e.querySelector('canvas, svg'))"
    )
    page.evaluate("document.fonts.ready.then(() => true)")


def take(chromium: str, console_url: str, out: Path, shots: list[Shot]) -> list[Path]:
    expect.set_options(timeout=TIMEOUT_MS)
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            for shot in shots:
                page = browser.new_page(viewport={"width": WIDTH, "height": shot.height})
                page.set_default_timeout(TIMEOUT_MS)
                page.goto(console_url + shot.path)
                wait_idle(page, shot.wait_for)
                if shot.click:
                    page.get_by_role("button", name=shot.click, exact=True).click()
                    wait_idle(page, shot.after_click or shot.wait_for)
                path = out / shot.file
                page.screenshot(path=path)
                page.close()
                written.append(path)
        finally:
            browser.close()
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
