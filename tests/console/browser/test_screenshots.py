"""scripts/screenshots.py drives a real headless Chromium against a real console (one page here, for time)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.console.browser.conftest import chromium

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "screenshots.py"


def test_screenshot_of_the_payments_page(live_server, tmp_path):
    command = [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--chromium", chromium(), "--only", "payments.png"]
    command += ["--api-url", live_server.base_url]  # the shared server (reset by the script's seeding)
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    png = (tmp_path / "payments.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000  # a rendered page, not a blank one
