"""PaymockClient: a small httpx client for both of paymock's APIs (tests, the pytest plugin, the console).

Control-API calls (/mock/v1) return parsed JSON and raise `PaymockError` on a non-2xx answer: a test
that sets a scenario expects it to work. Provider-API calls (/api/v2) return the `httpx.Response`,
because scenarios make them fail on purpose and the test wants to see how; `checked(response)` turns
one into JSON-or-`PaymockError` when a caller wants that instead. When nothing answers at the URL,
the error is still httpx's (`ConnectError`, `ConnectTimeout`, ...), with a note naming the URL.
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
SESSION_HEADER = "X-Mock-Session"
AUDIT_WAIT_S = 75.0  # the server caps an audit at 60 s: wait that long at least, whatever the client's timeout


# the longest one wait-for-delivery request waits (timeout_ms maximum in openapi/control.yaml)
MAX_WAIT_S = 2.0


class PaymockError(RuntimeError):
    """A call answered non-2xx; `problem` is the problem+json body when there was one, `title`,
    `detail` and `errors` (the named mistakes, as text) its parts."""

    def __init__(self, response: httpx.Response) -> None:
        try:
            problem = response.json()
        except ValueError:
            problem = {"detail": response.text}
        self.problem: dict[str, Any] = problem if isinstance(problem, dict) else {"detail": str(problem)}
        self.status_code = response.status_code
        self.title = str(self.problem.get("title") or response.reason_phrase)
        self.detail: str | None = self.problem.get("detail")
        self.errors = [str(e) for e in self.problem.get("errors") or []]
        shown = self.detail or self.title
        super().__init__(f"{response.request.method} {response.request.url.path} -> {response.status_code}: {shown}")


def checked(response: httpx.Response) -> Any:
    """The JSON of a 2xx answer (None when it has no body); any other answer raises PaymockError."""
    if response.is_error:
        raise PaymockError(response)
    return response.json() if response.content else None


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


def _given(params: Mapping[str, Any]) -> dict[str, Any]:
    """Query parameters without the ones left as None (httpx would send them empty)."""
    return {key: value for key, value in params.items() if value is not None}


class PaymockClient:
    """Both APIs over one connection pool; the bearer token lives in its default headers only."""

    def __init__(
        self, base_url: str, *, auth_token: str | None = None, timeout: float = 30.0, session: str | None = None
    ) -> None:
        headers = {"Authorization": f"Bearer {auth_token}"} if auth_token else {}
        if session:  # every call acts in that session (X-Mock-Session)
            headers[SESSION_HEADER] = session
        self.base_url = base_url.rstrip("/")
        self.session = session
        self._auth_token = auth_token
        self._timeout = timeout
        self.http: httpx.Client = _Http(base_url=self.base_url, headers=headers, timeout=timeout)

    def __repr__(self) -> str:  # never the headers: they hold the token
        bound = f", session={self.session!r}" if self.session else ""
        return f"PaymockClient({redact(self.base_url)!r}{bound})"

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> PaymockClient:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()

    def _control(self, method: str, path: str, **kwargs: Any) -> Any:
        return checked(self.http.request(method, "/mock/v1" + path, **kwargs))

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
        version: str = "v2",
    ) -> httpx.Response:
        body = {
            "version": version,
            "tx_id": tx_id,
            "order_id": order_id,
            "user_id": user_id,
            "amount": amount,
            "callback_url": callback_url,
        }
        headers = {SCENARIO_HEADER: scenario} if scenario else {}
        return self.http.post("/api/v2/payments", json=body, headers=headers)

    def confirm_payment(self, payment_id: str, *, scenario: str | None = None) -> httpx.Response:
        headers = {SCENARIO_HEADER: scenario} if scenario else {}
        return self.http.post("/api/v2/confirm-payment", json={"payment_id": payment_id}, headers=headers)

    def payments(self, **filters: Any) -> httpx.Response:
        """The listing; filters: status, scenario, tx_id_prefix, offset, limit (None ones are left out)."""
        return self.http.get("/api/v2/pending-payments", params=_given(filters))

    # control API (/mock/v1)
    def audit(
        self,
        url: str,
        *,
        timeout_s: float | None = None,
        state_url: str | None = None,
        state_field: str | None = None,
    ) -> dict[str, Any]:
        """POST /audit: the server sends its battery of webhooks to `url` and answers the graded report
        (`paymock.audit.audit` runs the same from this process)."""
        body: dict[str, Any] = {"url": url}
        if timeout_s is not None:
            body["timeout_s"] = timeout_s
        if state_url is not None or state_field is not None:
            body["state"] = {"url": state_url, "field": state_field}
        return self._control("POST", "/audit", json=body, timeout=AUDIT_WAIT_S)

    # sessions: isolated views inside one server (POST /mock/v1/sessions)
    def create_session(
        self,
        label: str | None = None,
        claims: Mapping[str, Any] | None = None,
        idle_timeout_s: int | None = None,
    ) -> dict[str, Any]:
        """Open a session; `claims`: {"tx_id_prefix": str, "order_ids": [int], "user_ids": [int]} (any of
        them) takes provider calls that name no session but carry those values. Returns the Session."""
        body: dict[str, Any] = {}
        if label is not None:
            body["label"] = label
        if claims is not None:
            body["claims"] = dict(claims)
        if idle_timeout_s is not None:
            body["idle_timeout_s"] = idle_timeout_s
        return self._control("POST", "/sessions", json=body)

    def list_sessions(self, *, offset: int | None = None, limit: int | None = None) -> dict[str, Any]:
        """The live sessions, oldest first: {"sessions": [...], "total": n, "next_offset": ...}."""
        return self._control("GET", "/sessions", params=_given({"offset": offset, "limit": limit}))

    def get_session(self, session_id: str) -> dict[str, Any]:
        return self._control("GET", f"/sessions/{_segment(session_id)}")

    def set_claims(self, session_id: str, claims: Mapping[str, Any]) -> dict[str, Any]:
        """Replace what the session claims (409 PaymockError if another live session claims any of it)."""
        return self._control("PUT", f"/sessions/{_segment(session_id)}/claims", json=dict(claims))

    def end_session(self, session_id: str) -> dict[str, Any]:
        """End it: its payments and deliveries are removed, its retries cancelled."""
        return self._control("DELETE", f"/sessions/{_segment(session_id)}")

    def in_session(self, session_id: str) -> PaymockClient:
        """A new client (same URL, token and timeout) whose every call acts in `session_id`; close it too."""
        return PaymockClient(self.base_url, auth_token=self._auth_token, timeout=self._timeout, session=session_id)

    def health(self) -> dict[str, Any]:
        return self._control("GET", "/health")

    def reset(self) -> dict[str, Any]:
        return self._control("POST", "/reset")

    def scenarios(self) -> dict[str, Any]:
        return self._control("GET", "/scenarios")

    def get_scenario(self, name: str) -> dict[str, Any]:
        """One scenario as the server holds it (`scenario`: the document, every default filled in)."""
        return self._control("GET", f"/scenarios/{_segment(name)}")

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
        return self._control("GET", "/deliveries", params=_given(filters))

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
        min_attempts: int | None = None,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """Long-poll until the payment's latest delivery (of `event`) is in `state` (acknowledged, failed,
        dropped, settled, or attempted: any) with at least `min_attempts` attempts (absent: 1 with
        `attempted`, none otherwise).

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
        params = _given({"tx_id": tx_id, "event": event, "state": state, "min_attempts": min_attempts})
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
