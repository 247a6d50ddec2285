"""README's provider examples against the in-process app, so what a newcomer copies is what happens."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import payment_body

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_a_failed_create_answers_its_failure_reason_and_cannot_be_confirmed(client, receiver):
    shown = re.search(r'^# (\{"ok": true, .*"PAYMENT_FAILED".*\})$', README, re.M)
    assert shown, "README shows a failed create's answer"
    body = payment_body("tx_1001", receiver.url("/hook"), amount=4002)  # README: amount 4002 is declined
    del body["version"]  # README: optional
    answer = client.post("/api/v2/payments", json=body)
    assert answer.status_code == 200 and answer.json() == json.loads(shown.group(1))
    confirm = client.post("/api/v2/confirm-payment", json={"payment_id": "pay_tx_1001"})
    assert confirm.status_code == 409 and "cannot be confirmed" in confirm.json()["detail"]
    assert "a PAYMENT_FAILED (declined) payment -> 409" in README


def test_the_ops_server_example_is_the_runnable_one_in_examples():
    section = README.split("### Example: an ops-server test (pytest)", 1)[1].split("### ", 1)[0]
    (snippet,) = re.findall(r"```python\n(.*?)```", section, re.S)
    assert snippet in (ROOT / "examples" / "ops_server" / "test_ops_server.py").read_text(encoding="utf-8")
    assert "python -m pytest examples/ops_server" in section


def test_the_parallel_sections_python_is_the_runnable_example():
    section = README.split("## Parallel tests and shared servers", 1)[1].split("\n## ", 1)[0]
    snippets = re.findall(r"```python\n(.*?)```", section, re.S)
    example = (ROOT / "examples" / "ops_server" / "test_ops_server.py").read_text(encoding="utf-8")
    assert snippets and all(snippet in example for snippet in snippets)
    assert "pytest -n 4 --paymock-url" in section
