"""PaymockClient: a small httpx client for tests that steer a running paymock.

Control-API calls (/mock/v1) return parsed JSON and raise `PaymockError` on a non-2xx answer: a test
that sets a scenario expects it to work. Provider-API calls (/api/v2) return the `httpx.Response`,
because scenarios make them fail on purpose and the test wants to see how. When nothing answers at
the URL, the error is still httpx's `ConnectError` (or `ConnectTimeout`), with a note naming the URL.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from ..domain.quoting import redact

SCENARIO_HEADER = "X-Mock-Scenario"


# the longest one wait-for-delivery request waits (timeout_ms maximum in openapi/control.yaml)
MAX_WAIT_S = 2.0


class PaymockError(RuntimeError):
    """A control-API call answered non-2xx; `problem` is the problem+json body when there was one."""

    def __init__(self, response: httpx.Response) -> None:
        try:
            self.problem: dict[str, Any] = response.json()
        except ValueError:
            self.problem = {"detail": response.text}
        self.status_code = response.status_code
        detail = self.problem.get("detail") or self.problem.get("title") or response.reason_phrase
        super().__init__(f"{response.request.method} {response.request.url.path} -> {response.status_code}: {detail}")


class _Http(httpx.Client):
    """httpx.Client whose connect failures say which paymock they were for (the type stays httpx's)."""

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        try:
            return super().send(request, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # httpx's own message is only "[Errno 111] Connection refused": name the URL and what to do
            shown = redact(str(self.base_url))  # no password in a message
            exc.add_note(f"paymock is not reachable at {shown}; start it or fix the URL given to PaymockClient")
            raise


def _segment(value: str) -> str:
    """One path segment: an id with `/`, `?` or `..` in it must name that id, not another route."""
    return quote(value, safe="")


class PaymockClient:
    def __init__(self, base_url: str, *, auth_token: str | None = None, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {auth_token}"} if auth_token else {}
        self.base_url = base_url.rstrip("/")
        self.http: httpx.Client = _Http(base_url=self.base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> PaymockClient:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()

    def _control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, "/mock/v1" + path, **kwargs)
        if response.is_error:
            raise PaymockError(response)
        return response.json() if response.content else None

    # provider API (/api/v2): what the ops server under test calls
    def create_payment(
        self,
        tx_id: str,
        callback_url: str,
        *,
        amount: int = 1000,
        order_id: int = 1,
        user_id: int = 1,
        scenario: str | None = None,
    ) -> httpx.Response:
        body = {
            "version": "v2",
            "tx_id": tx_id,
            "order_id": order_id,
            "user_id": user_id,
            "amount": amount,
            "callback_url": callback_url,
        }
        headers = {SCENARIO_HEADER: scenario} if scenario else {}
        return self.http.post("/api/v2/payments", json=body, headers=headers)

    def confirm_payment(self, payment_id: str) -> httpx.Response:
        return self.http.post("/api/v2/confirm-payment", json={"payment_id": payment_id})

    def payments(self, **filters: Any) -> httpx.Response:
        return self.http.get("/api/v2/pending-payments", params=filters)

    # control API (/mock/v1)
    def health(self) -> dict[str, Any]:
        return self._control("GET", "/health")

    def reset(self) -> dict[str, Any]:
        return self._control("POST", "/reset")

    def scenarios(self) -> dict[str, Any]:
        return self._control("GET", "/scenarios")

    def put_scenario(self, scenario: Mapping[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """Add or replace a run-time scenario (`dry_run`: only validate it); the document names it."""
        name = scenario.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("put_scenario: the scenario document needs its `name`")
        params = {"dry_run": "true"} if dry_run else None
        return self._control("PUT", f"/scenarios/{_segment(name)}", json=dict(scenario), params=params)

    def delete_scenario(self, name: str) -> None:
        """Remove a run-time scenario (a shipped or file scenario it overrode comes back)."""
        self._control("DELETE", f"/scenarios/{_segment(name)}")

    def active_scenario(self) -> str:
        return self._control("GET", "/active-scenario")["name"]

    def set_scenario(self, name: str) -> str:
        """Make `name` the active scenario (used when no header or match rule picks another)."""
        return self._control("PUT", "/active-scenario", json={"name": name})["name"]

    @contextlib.contextmanager
    def scenario(self, name: str) -> Iterator[str]:
        """`with paymock.scenario("webhook-flaky"):` then back to the scenario active before."""
        before = self.active_scenario()
        self.set_scenario(name)
        try:
            yield name
        except BaseException:
            with contextlib.suppress(PaymockError):  # the test's own failure is the one to report
                self._restore_active(before)
            raise
        self._restore_active(before)

    def _restore_active(self, name: str) -> None:
        try:
            self.set_scenario(name)
        except PaymockError as exc:
            if exc.status_code != 404:  # 404: it is gone (reset, deleted in the block); the server uses default
                raise

    def payment(self, payment_id: str) -> dict[str, Any]:
        return self._control("GET", f"/payments/{_segment(payment_id)}")

    def deliveries(self, **filters: Any) -> list[dict[str, Any]]:
        """One page of delivery summaries, newest first (the first 100 unless `limit`/`offset` say
        otherwise); filters: payment_id, tx_id, state, event, scenario. `deliveries_page` has the
        total, `iter_deliveries` goes through every page."""
        return self.deliveries_page(**filters)["deliveries"]

    def deliveries_page(self, **filters: Any) -> dict[str, Any]:
        """The whole answer, as `payments()` gives it: `total`, `next_offset` (None on the last page)
        and `deliveries`; filters as `deliveries()`, with `offset` and `limit` (1-1000) for the page."""
        return self._control("GET", "/deliveries", params=filters)

    def iter_deliveries(self, *, page_size: int = 100, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every matching delivery summary, newest first, fetched `page_size` (1-1000) at a time.

        Deliveries created while it pages push the ones it has seen onto its next page: it skips
        them there, so each comes once (the new ones may not come at all). With a `state` filter, one
        that changes state between two pages can be missed.
        """
        if "limit" in filters or "offset" in filters:
            raise TypeError("iter_deliveries pages by itself: give page_size, not limit or offset")
        seen: set[str] = set()
        offset: int | None = 0
        while offset is not None:
            page = self.deliveries_page(**filters, offset=offset, limit=page_size)
            for summary in page["deliveries"]:
                if summary["delivery_id"] not in seen:
                    seen.add(summary["delivery_id"])
                    yield summary
            offset = page["next_offset"]

    def delivery(self, delivery_id: str) -> dict[str, Any]:
        return self._control("GET", f"/deliveries/{_segment(delivery_id)}")

    def redeliver(self, delivery_id: str) -> dict[str, Any]:
        return self._control("POST", f"/deliveries/{_segment(delivery_id)}/redeliver")

    def wait_for_delivery(
        self,
        *,
        tx_id: str | None = None,
        payment_id: str | None = None,
        event: str | None = None,
        state: str = "settled",
        min_attempts: int = 1,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """Long-poll until the payment's latest delivery (of `event`) is in `state` (acknowledged, failed,
        dropped, settled, or attempted: any) with at least `min_attempts` attempts.

        Name the payment by `tx_id` or `payment_id`. The server waits at most 2 s per request; this asks
        again until `timeout`. Raises PaymockError: 404 if no delivery came, 409 if it is in another
        state (the problem's `state`), at once when it has settled in another state.
        """
        if (tx_id is None) == (payment_id is None):
            raise TypeError("wait_for_delivery: name the payment by tx_id or by payment_id (one of them)")
        if payment_id is not None:
            if not payment_id.startswith("pay_"):
                raise ValueError(f"payment_id {payment_id!r}: payment ids are pay_<tx_id>")
            tx_id = payment_id[len("pay_") :]
        params: dict[str, Any] = {"tx_id": tx_id, "state": state, "min_attempts": min_attempts}
        if event is not None:
            params["event"] = event
        deadline = time.monotonic() + timeout
        while True:
            left = max(0.0, deadline - time.monotonic())
            params["timeout_ms"] = int(min(left, MAX_WAIT_S) * 1000)
            # the server answers by timeout_ms at the latest; the client waits a little longer than that
            response = self.http.get("/mock/v1/wait-for-delivery", params=params, timeout=MAX_WAIT_S + 10)
            if response.is_success:
                return response.json()
            error = PaymockError(response)
            # no delivery yet, one still pending, or attempts still to count (duplicates follow an
            # acknowledgement): it may get there. A settled one stays as it is unless sent again.
            may_move = response.status_code == 404 or error.problem.get("state") == "pending" or state == "attempted"
            if not may_move or time.monotonic() >= deadline:
                raise error
