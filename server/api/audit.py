"""Control API handler for /mock/v1/audit: run the webhook audit from the server, answer the report.

The audit's requests obey PAYMOCK_CALLBACK_HOSTS as webhooks do (a host outside it is a 403 naming the
allowed ones, nothing sent), and are signed with the server's own secret and token."""

from __future__ import annotations

from typing import Any

from connexion.context import scope

from ..audit import AuditError, StateProbe, run_audit
from ..audit.runner import HttpSender
from ..domain.errors import Busy, Conflict, Forbidden
from ..domain.payments import callback_host
from ..settings import Settings
from .context import ok

MAX_TOTAL_S = 60.0  # one API call holds at most this long, however the receiver behaves
MAX_RUNNING = 4  # audits at once per server process: each holds a connection pool and sends ~36 requests
_running = 0  # no await between its check and its increment: one event loop, so no lock is needed


def _check_hosts(urls: list[str], allowed: frozenset[str]) -> None:
    if not allowed:
        return  # no allowlist: webhooks (and audits) may go anywhere, as configured
    for url in urls:
        host = callback_host(url)  # the rule webhooks follow (domain.payments.check_callback_host)
        if host not in allowed:
            listed = ", ".join(sorted(allowed))
            raise Forbidden(f"host {host[:100]!r} is not in PAYMOCK_CALLBACK_HOSTS ({listed}); nothing was sent")


async def run(body: dict[str, Any]) -> tuple[Any, int, dict[str, str]]:
    settings: Settings = scope["state"]["settings"]
    state = body.get("state")
    probe = StateProbe(state["url"], state["field"], numbers_only=True) if state else None
    _check_hosts([body["url"], *([state["url"]] if state else [])], settings.callback_hosts)
    global _running
    if _running >= MAX_RUNNING:
        raise Busy(f"{_running} audits are running, the most this server runs at once; retry when one ends", 5)
    _running += 1
    sender = HttpSender(settings.callback_hosts)
    try:
        report = await run_audit(
            body["url"],
            secret=settings.webhook_secret,
            auth_token=settings.auth_token,
            timeout_s=body.get("timeout_s", settings.webhook_timeout_s),
            state=probe,
            sender=sender,
            max_total_s=MAX_TOTAL_S,
        )
    except AuditError as exc:
        raise Conflict(str(exc)) from None
    finally:
        _running -= 1
        await sender.close()
    return ok(report.to_dict())
