"""docs/snippets/: each receiver snippet verifies real paymock signatures, run where its runtime exists."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from paymock.domain.webhooks import build_headers, encode, standard_secret

SNIPPETS = Path(__file__).resolve().parents[2] / "docs" / "snippets"
SECRET = "snippet-secret-ünïcode"  # non-ASCII on purpose: every language must hash the UTF-8 bytes
BODY = encode({"event": "payment.completed", "tx_id": "tx_1", "amount": 1000, "note": "결제 완료"})


def _case(secret: str, body: bytes = BODY, signature: str = "valid", sign_with: str | None = None) -> dict[str, Any]:
    headers = build_headers(
        secret=sign_with or secret,
        event="payment.completed",
        msg_id="evt_completed_tx_1",
        body=body,
        now=time.time(),
        signature=signature,
    )
    return {"secret": secret, "headers": headers, "body_b64": base64.b64encode(body).decode()}


def _cases() -> list[tuple[str, dict[str, Any], dict[str, bool]]]:
    tampered = _case(SECRET)
    tampered["body_b64"] = base64.b64encode(BODY.replace(b"1000", b"9999")).decode()
    rotated = _case(SECRET)
    rotated["headers"]["webhook-signature"] = "v1,bm90LWl0 " + rotated["headers"]["webhook-signature"]
    whsec = standard_secret("a-whsec-key")
    return [
        ("valid", _case(SECRET), {"seed": True, "standard": True}),
        ("wrong key", _case(SECRET, signature="invalid"), {"seed": False, "standard": False}),
        ("other secret", _case(SECRET, sign_with="not-the-secret"), {"seed": False, "standard": False}),
        ("unsigned", _case(SECRET, signature="missing"), {"seed": False, "standard": False}),
        ("stale timestamp", _case(SECRET, signature="stale"), {"seed": True, "standard": False}),
        ("tampered body", tampered, {"seed": False, "standard": False}),
        ("rotated keys", rotated, {"seed": True, "standard": True}),
        ("whsec_ secret", _case(whsec), {"seed": True, "standard": True}),
    ]


def _runtimes() -> list[Any]:
    go = shutil.which("go")
    node = shutil.which("node")
    return [
        pytest.param([sys.executable, str(SNIPPETS / "verify_webhook.py")], id="python"),
        pytest.param(
            [node or "node", str(SNIPPETS / "verify_webhook.js")],
            id="node",
            marks=pytest.mark.skipif(node is None, reason="node is not installed on this machine"),
        ),
        pytest.param(
            [go or "go", "run", str(SNIPPETS / "verify_webhook.go")],
            id="go",
            marks=pytest.mark.skipif(go is None, reason="go is not installed on this machine"),
        ),
    ]


@pytest.mark.parametrize("command", _runtimes())
def test_snippet_verifies_paymock_signatures(command: list[str]) -> None:
    cases = _cases()
    done = subprocess.run(
        command,
        input=json.dumps([case for _, case, _ in cases]),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=SNIPPETS,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert {name: got for (name, _, _), got in zip(cases, results, strict=True)} == {
        name: want for name, _, want in cases
    }


def test_standard_webhooks_library_accepts_paymock_with_the_whsec_spelling() -> None:
    """What docs/snippets/README.md says about the official libraries, checked with the Python one."""
    standardwebhooks = pytest.importorskip("standardwebhooks")
    case = _case(SECRET)
    payload = standardwebhooks.Webhook(standard_secret(SECRET)).verify(BODY, case["headers"])
    assert payload["amount"] == 1000
