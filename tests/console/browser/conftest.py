"""Browser tests: Playwright for Python drives Debian's Chromium against a real console.

The console is a real `paymock console` (streamlit) process pointed at the session's `live_server`
(reset before each test); webhooks go to a real loopback receiver. Playwright runs the system
Chromium (`executable_path`), never a browser of its own: nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserType, Page, Playwright, expect, sync_playwright

from paymock.testing.process import ServerProcess, free_port
from paymock.testing.receiver import WebhookReceiver
from tests.conftest import SECRET
from tests.sidecar.helpers import READY_TIMEOUT_S, wait_answering

# without --disable-background-networking Chromium's own connections (updates, field trials) are refused
# by the closed network, many at a time; no sandbox: CI runs as root
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# generous: a busy 2-core runner can take seconds for one Streamlit rerun
TIMEOUT_MS = 30_000


def chromium() -> str:
    """Debian's Chromium. In CI (CI=true) a missing one is a failure: `.ci/run` installs it."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("CI runs the browser tests: Debian's chromium is missing (.ci/run installs it)")
    pytest.skip("needs Debian's chromium (apt-get install chromium)")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch options (--headed, --slowmo ...), with the system Chromium and its flags."""
    return {**browser_type_launch_args, "executable_path": chromium(), "args": CHROMIUM_ARGS}


# pytest-playwright keeps Playwright and its browser for the whole session, and while Playwright's sync API
# runs it marks this thread's event loop as running: every later asyncio.run() in the suite would fail.
# These overrides scope them to a module, so Playwright stops when a module's browser tests are done.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser_type(playwright: Playwright, browser_name: str) -> BrowserType:
    return getattr(playwright, browser_name)


@pytest.fixture(scope="module")
def browser(browser_type: BrowserType, browser_type_launch_args: dict[str, Any]) -> Iterator[Browser]:
    browser = browser_type.launch(**browser_type_launch_args)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def browser_context_args() -> dict[str, Any]:
    return {"viewport": {"width": 1400, "height": 1000}}


@pytest.fixture
def page(page: Page) -> Page:
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    return page


class Console:
    """`paymock console` in a process group of its own (streamlit), stopped as a whole."""

    def __init__(self, api_url: str, receiver: WebhookReceiver, scripts_dir: Path) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        env = {
            **os.environ,
            "SERVICE_AUTH_TOKEN": "",
            "PAYMOCK_CALLBACK_URL": receiver.url("/hook/{tx_id}"),
            "PAYMOCK_CONSOLE_SCRIPTS": str(scripts_dir),
        }
        command = [sys.executable, "-m", "paymock.cli", "console", "--port", self.url.rsplit(":", 1)[1]]
        self._log = scripts_dir.parent / "console.log"
        with self._log.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, "--api-url", api_url], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            wait_answering(self.url + "/_stcore/health", self.process, "paymock console", self.output)  # type: ignore[arg-type]
        except BaseException:
            self.stop()
            raise

    def output(self) -> str:
        return self._log.read_text(errors="replace")

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(READY_TIMEOUT_S)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture(scope="module")
def console_receiver() -> Iterator[WebhookReceiver]:
    """The receiver the console's callback URL names: it lives as long as the console."""
    receiver = WebhookReceiver(SECRET)
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def console_process(
    live_server: ServerProcess, console_receiver: WebhookReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Console]:
    console = Console(live_server.base_url, console_receiver, tmp_path_factory.mktemp("console") / "qa_scripts")
    yield console
    console.stop()


@pytest.fixture
def console(console_process: Console, console_receiver: WebhookReceiver, live_server: ServerProcess) -> Console:
    """The console, with the server reset and the receiver emptied."""
    assert httpx.post(live_server.base_url + "/mock/v1/reset", timeout=30).status_code == 200
    console_receiver.clear()
    return console_process
