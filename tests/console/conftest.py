"""Console tests: AppTest runs the real console against a live `paymock serve` process.

The session's `live_server` (tests/conftest.py) is reset before each test; webhooks go to a real
loopback WebhookReceiver; saved QA scripts go to a temporary directory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from paymock.testing.process import ServerProcess
from paymock.testing.receiver import WebhookReceiver

ENTRY = Path(__file__).resolve().parents[2] / "console" / "streamlit_app.py"
PAGES = {
    "payments": "app_pages/payments.py",
    "webhooks": "app_pages/webhooks.py",
    "scenarios": "app_pages/scenarios.py",
    "scripts": "app_pages/scripts.py",
    "audit": "app_pages/audit.py",
    "sessions": "app_pages/sessions.py",
    "settings": "app_pages/settings.py",
}
RUN_TIMEOUT_S = 30


def open_console(page: str = "payments") -> AppTest:
    at = AppTest.from_file(str(ENTRY), default_timeout=RUN_TIMEOUT_S).run()
    if page != "payments":
        at.switch_page(PAGES[page]).run()
    return at


def goto(at: AppTest, page: str) -> AppTest:
    return at.switch_page(PAGES[page]).run()


def click(at: AppTest, label: str) -> AppTest:
    """Click the one button with this label (form submit buttons included) and rerun."""
    matches = [b for b in at.button if b.label == label]
    assert len(matches) == 1, f"{len(matches)} buttons labelled {label!r}: {[b.label for b in at.button]}"
    return matches[0].click().run()


def texts(at: AppTest, kind: str) -> list[str]:
    return [str(e.value) for e in getattr(at, kind)]


def rendered(at: AppTest) -> str:
    """Everything the app sent to the 'browser' (every element's protobuf), for leak checks."""
    out: list[str] = []

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(out)


@pytest.fixture
def console_env(
    live_server: ServerProcess, receiver: WebhookReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[httpx.Client]:
    """Point the console at the live server and the receiver; yield a plain client to check the server."""
    monkeypatch.setenv("PAYMOCK_API_URL", live_server.base_url)
    monkeypatch.setenv("PAYMOCK_CALLBACK_URL", receiver.url("/hook/{tx_id}"))
    monkeypatch.setenv("PAYMOCK_CONSOLE_SCRIPTS", str(tmp_path / "qa_scripts"))
    monkeypatch.delenv("SERVICE_AUTH_TOKEN", raising=False)
    with httpx.Client(base_url=live_server.base_url, timeout=30) as c:
        assert c.post("/mock/v1/reset").status_code == 200
        yield c


@pytest.fixture
def console(console_env: httpx.Client) -> Callable[[str], AppTest]:
    return open_console
