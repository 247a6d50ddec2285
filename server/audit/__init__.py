"""`paymock audit`: send a battery of good, hostile and malformed webhooks to an ops server's endpoint and
grade each answer (and, given a state URL, each effect).

    from paymock.audit import audit
    audit("http://127.0.0.1:8000/webhooks/payment", secret=SECRET).assert_passed()

checks.py builds the requests, runner.py sends them, report.py grades and renders; the command line is
paymock/cli/audit.py, the control API's POST /mock/v1/audit api/audit.py, the pytest fixture `paymock_audit`.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from ..settings import SettingsError, check_token
from .checks import Signing, battery
from .report import AuditFailed, CheckResult, Report, grade
from .runner import MAX_TOTAL_S, AuditError, HttpSender, Runner, Sender, StateProbe

__all__ = ["AuditError", "AuditFailed", "CheckResult", "Report", "StateProbe", "audit", "run_audit"]

DEFAULT_TIMEOUT_S = 5.0  # the provider's webhook timeout (PAYMOCK_WEBHOOK_TIMEOUT's default)


async def run_audit(
    url: str,
    *,
    secret: str,
    auth_token: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    state: StateProbe | None = None,
    sender: Sender | None = None,
    max_total_s: float = MAX_TOTAL_S,
    now: float | None = None,
    run_id: str | None = None,
    first_order_id: int | None = None,
) -> Report:
    """Audit one URL. Raises AuditError when it cannot run (a bad option, nothing listening at the URL)."""
    try:  # a line break or a space made every case a dropped connection, blamed on the receiver
        check_token(auth_token, "the bearer token (--auth-token / SERVICE_AUTH_TOKEN)")
    except SettingsError as exc:
        raise AuditError(str(exc)) from None
    run_id = run_id or secrets.token_hex(4)
    if first_order_id is None:
        # orders this run's cases own, unlikely to be any real order's: big, and new per run
        first_order_id = 900_000_000 + secrets.randbelow(9_000_000) * 100
    cases = battery(Signing(secret, auth_token), time.time() if now is None else now, run_id, first_order_id)
    own = sender is None
    active = sender or HttpSender()
    try:
        outcomes = await Runner(active, timeout_s=timeout_s, state=state, max_total_s=max_total_s).run(url, cases)
    finally:
        if own:
            await active.close()  # type: ignore[attr-defined]
    return grade(url, outcomes, timeout_s)


def audit(url: str, *, secret: str, **options: Any) -> Report:
    """`run_audit` for synchronous code (tests): returns the Report; `report.assert_passed()` lists failures.
    `state_url` / `state_field` read the order's state after each case (see StateProbe), sending
    `state_headers` (e.g. the ops server's own API token) with those reads."""
    state_url, state_field = options.pop("state_url", None), options.pop("state_field", None)
    state_headers = options.pop("state_headers", None)
    if (state_url is None) != (state_field is None):
        raise AuditError("state_url and state_field go together: give both, or neither")
    if state_url is not None:
        options["state"] = StateProbe(state_url, state_field, dict(state_headers or {}))
    return asyncio.run(run_audit(url, secret=secret, **options))
