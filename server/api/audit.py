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
MAX_RUNNING = 4  # audits at once per app: each holds a connection pool and sends ~36 requests


class AuditSlots:
    """How many audits one app is running; built in the app's lifespan, so two apps in one process
    (tests, the pytest plugin's embedded server) each have their own. No await between a check and its
    increment: one event loop per app, so no lock is needed."""

    def __init__(self, most: int = MAX_RUNNING) -> None:
        self.most = most
        self.running = 0

    def take(self) -> None:
        if self.running >= self.most:
            raise Busy(f"{self.running} audits are running, the most this server runs at once; retry when one ends", 5)
        self.running += 1

    def give_back(self) -> None:
        self.running -= 1


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
    slots: AuditSlots = scope["state"]["audits"]
    slots.take()
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
        slots.give_back()
        await sender.close()
    return ok(report.to_dict())
