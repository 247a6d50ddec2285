"""The only module of the console that knows paymock's URLs: a small httpx client for both contracts.

Every failure becomes an `ApiError` carrying the problem's title and detail (or a plain sentence when
the server cannot be reached), so pages show a readable message instead of a stack trace. The bearer
token lives in the httpx client's default headers only: it is never logged, formatted or returned.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import httpx

PROVIDER = "/api/v2"
CONTROL = "/mock/v1"
DEFAULT_API_URL = "http://localhost:9002"
DEFAULT_TIMEOUT_S = 60.0
# Listing everything at once is the seed's behaviour; the console caps it so a long session stays fast.
LISTING_LIMIT = 1000
MAX_WAIT_MS = 2_000  # the longest one wait-for-delivery request waits (timeout_ms maximum in control.yaml)


class ApiError(Exception):
    """A call that did not succeed: HTTP problem (status set) or no answer at all (status None)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        title: str | None = None,
        detail: str | None = None,
        errors: list[str] | None = None,
        state: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors or []
        self.state = state  # wait-for-delivery's 409: the state the delivery is in

    @property
    def message(self) -> str:
        return str(self)


def _problem(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    title = str(body.get("title") or response.reason_phrase or "Error")
    detail = body.get("detail")
    errors = [str(e) for e in body.get("errors") or []]
    if response.status_code == 401:
        hint = "the server requires a bearer token; set it on the Settings page"
        detail = f"{detail} ({hint})" if detail else hint
    text = f"{response.status_code} {title}" + (f": {detail}" if detail else "")
    state = body.get("state") if isinstance(body.get("state"), str) else None
    return ApiError(text, status=response.status_code, title=title, detail=detail, errors=errors, state=state)


def _seg(value: str) -> str:
    """One path segment, escaped: a typed id like `../reset` must not reach another endpoint."""
    return quote(value, safe="")


class PaymockClient:
    """Both paymock contracts over one httpx connection pool."""

    def __init__(self, base_url: str = DEFAULT_API_URL, token: str | None = None, timeout_s: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        headers = {"Accept": "application/json, application/problem+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s)

    def __repr__(self) -> str:  # never the headers: they hold the token
        return f"PaymockClient({self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            response = self._http.request(
                method,
                path,
                params=clean,
                json=json,
                headers=headers,
                timeout=timeout if timeout is not None else self.timeout_s,
            )
        except httpx.TimeoutException as exc:
            raise ApiError(f"No answer from {self.base_url} within the timeout ({type(exc).__name__}).") from None
        except httpx.HTTPError as exc:
            raise ApiError(f"Cannot reach the paymock server at {self.base_url}: {exc}") from None
        if response.status_code >= 400:
            raise _problem(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiError(f"{self.base_url} answered {response.status_code} with a body that is not JSON.") from None

    # provider contract (/api/v2)
    def create_payment(self, body: dict[str, Any], scenario: str | None = None) -> dict[str, Any]:
        headers = {"X-Mock-Scenario": scenario} if scenario else None
        return self._call("POST", f"{PROVIDER}/payments", json=body, headers=headers)

    def confirm_payment(self, payment_id: str, scenario: str | None = None) -> dict[str, Any]:
        headers = {"X-Mock-Scenario": scenario} if scenario else None
        return self._call("POST", f"{PROVIDER}/confirm-payment", json={"payment_id": payment_id}, headers=headers)

    def list_payments(
        self,
        status: str | None = None,
        scenario: str | None = None,
        tx_id_prefix: str | None = None,
        offset: int = 0,
        limit: int | None = LISTING_LIMIT,
    ) -> dict[str, Any]:
        params = {"status": status, "scenario": scenario, "tx_id_prefix": tx_id_prefix, "offset": offset or None}
        params["limit"] = limit
        return self._call("GET", f"{PROVIDER}/pending-payments", params=params)

    # control contract (/mock/v1)
    def payment_detail(self, payment_id: str) -> dict[str, Any]:
        return self._call("GET", f"{CONTROL}/payments/{_seg(payment_id)}")

    def list_deliveries(self, limit: int = 100, offset: int = 0, **filters: str | None) -> dict[str, Any]:
        return self._call("GET", f"{CONTROL}/deliveries", params={**filters, "limit": limit, "offset": offset or None})

    def delivery(self, delivery_id: str) -> dict[str, Any]:
        return self._call("GET", f"{CONTROL}/deliveries/{_seg(delivery_id)}")

    def redeliver(self, delivery_id: str) -> dict[str, Any]:
        return self._call("POST", f"{CONTROL}/deliveries/{_seg(delivery_id)}/redeliver")

    def wait_for_delivery(
        self,
        *,
        payment_id: str,
        event: str | None = None,
        state: str = "settled",
        min_attempts: int | None = None,
        timeout_ms: int = 10_000,
    ) -> dict[str, Any]:
        """Long-poll for the payment's delivery, in requests of at most MAX_WAIT_MS, until `timeout_ms`."""
        params = {
            "tx_id": payment_id.removeprefix("pay_"),  # payment ids are pay_<tx_id>
            "event": event,
            "state": state,
            "min_attempts": min_attempts,
        }
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            left_ms = max(0, int((deadline - time.monotonic()) * 1000))
            params["timeout_ms"] = min(left_ms, MAX_WAIT_MS)
            try:
                # the long-poll may legitimately take timeout_ms: give the HTTP call a little more than that
                return self._call(
                    "GET",
                    f"{CONTROL}/wait-for-delivery",
                    params=params,
                    timeout=max(self.timeout_s, MAX_WAIT_MS / 1000 + 5),
                )
            except ApiError as exc:
                # no delivery yet, one still pending, or attempts still to count: it may yet get there
                may_move = exc.status == 404 or exc.state == "pending" or (exc.status == 409 and state == "attempted")
                if not may_move or time.monotonic() >= deadline:
                    raise

    def scenarios(self) -> dict[str, Any]:
        return self._call("GET", f"{CONTROL}/scenarios")

    def scenario(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"{CONTROL}/scenarios/{_seg(name)}")

    def put_scenario(self, scenario: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
        name = str(scenario.get("name") or "")
        if not name:
            raise ApiError("The scenario needs a `name`.", errors=["name: required"])
        params = {"dry_run": "true"} if dry_run else None
        return self._call("PUT", f"{CONTROL}/scenarios/{_seg(name)}", params=params, json=scenario)

    def delete_scenario(self, name: str) -> None:
        self._call("DELETE", f"{CONTROL}/scenarios/{_seg(name)}")

    def active_scenario(self) -> str:
        return self._call("GET", f"{CONTROL}/active-scenario")["name"]

    def set_active_scenario(self, name: str) -> str:
        return self._call("PUT", f"{CONTROL}/active-scenario", json={"name": name})["name"]

    def reset(self) -> dict[str, Any]:
        return self._call("POST", f"{CONTROL}/reset")

    def health(self) -> dict[str, Any]:
        return self._call("GET", f"{CONTROL}/health")
