"""Send the battery to one URL and record each answer (status, time) and, if asked, the order's state.

The sender and the clock are injected: tests grade real receivers with `HttpSender` below, which sends
through the webhook sender and so keeps every request bounded as a webhook is (no redirects, a
per-request time limit, caps on an answer's head, `1xx` responses and the bytes read).
Nothing here decides pass or fail: that is report.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from string import Formatter
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from ..domain.payments import callback_host
from .checks import Case

MAX_ANSWER_BYTES = 64 * 1024  # an answer is read this far, no further: the audit grades statuses
MAX_TOTAL_S = 120.0


class AuditError(Exception):
    """The audit cannot run at all (bad option, unreachable URL); the message says why."""


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer (refused, dropped, timed out)
    error: str | None
    elapsed_s: float
    body: bytes = b""
    connect_failed: bool = False  # nothing listens there (or the host is unknown)
    timed_out: bool = False
    sent: bool = True  # False: the audit's time limit came first, nothing was sent


class Sender(Protocol):
    async def request(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str], timeout_s: float
    ) -> Answer: ...


@dataclass(frozen=True)
class StateProbe:
    """Where the ops server shows an order's state: a URL template over the payment's fields
    ({order_id}, {tx_id}, {payment_id}, {user_id}, {amount}) and the value to read from its JSON answer
    (a JSON pointer like /order/paid_count, or a top-level key)."""

    url_template: str
    field: str
    headers: dict[str, str] | None = None
    # The server's audit (POST /mock/v1/audit): whoever calls it names the URL, so a value read there is
    # shown only if it is a number, a boolean or absent; anything else only by its type, or the report
    # would hand out 40 characters of any JSON field any URL the server reaches answers.
    numbers_only: bool = False

    def url(self, fields: dict[str, Any]) -> str:
        values = {k: quote(str(v), safe="") for k, v in fields.items()}
        try:
            placeholders = [(name, spec, conv) for _, name, spec, conv in Formatter().parse(self.url_template)]
        except ValueError as exc:  # a lone `{` or `}`
            raise self._not_a_field(str(exc)) from None
        for name, spec, conversion in placeholders:
            if name is None:  # literal text only
                continue
            # Only a bare name: str.format would also apply a width (`{order_id:>999999999}` is a
            # gigabyte string), a conversion, an attribute or an index of the value.
            if spec or conversion:
                written = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
                raise self._not_a_field(repr("{" + written + "}"))
            if name not in values:
                raise self._not_a_field(repr(name))
        return self.url_template.format(**values)

    def _not_a_field(self, what: str) -> AuditError:
        return AuditError(
            f"--state-url {self.url_template!r}: {what} is not a field; use {{order_id}}, {{tx_id}}, "
            "{payment_id}, {user_id} or {amount}"
        )

    def read(self, document: Any) -> Any:
        """The value the field names in a JSON document; KeyError when it is not there."""
        if not self.field.startswith("/"):
            if not isinstance(document, dict) or self.field not in document:
                raise KeyError(self.field)
            return document[self.field]
        value = document
        for raw in self.field[1:].split("/"):
            token = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(value, list) and token.isdigit() and int(token) < len(value):
                value = value[int(token)]
            elif isinstance(value, dict) and token in value:
                value = value[token]
            else:
                raise KeyError(self.field)
        return value


@dataclass(frozen=True)
class StateReading:
    value: Any = None
    error: str | None = None  # the state could not be read: the effect is not graded
    field: str = "state"  # what was read, as the report names it
    shown: bool = True  # False: the report names the value's type, not the value (StateProbe.numbers_only)


@dataclass(frozen=True)
class Outcome:
    case: Case
    answer: Answer
    before: StateReading | None = None  # None: no state probe
    after: StateReading | None = None


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port or default


def check_url(url: str, what: str) -> None:
    """A URL the audit may send to: http(s), a host, no credentials."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises on a port that is not a number
    except ValueError as exc:
        raise AuditError(f"{what} {url[:200]!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AuditError(f"{what} {url[:200]!r}: expected an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise AuditError(f"{what} must not carry credentials (user:password@)")
    import httpx  # here, not at import: the audit's domain parts load without it

    try:
        # what the sender would refuse: control characters (URL), a host idna cannot decode (`xn--a`, .host)
        httpx.URL(url).host  # noqa: B018
    except (httpx.InvalidURL, ValueError) as exc:  # idna's errors are UnicodeError, a ValueError
        raise AuditError(f"{what} {url[:200]!r}: {exc}") from None


class Runner:
    def __init__(
        self,
        sender: Sender,
        *,
        timeout_s: float,
        monotonic: Callable[[], float] = time.monotonic,
        max_total_s: float = MAX_TOTAL_S,
        state: StateProbe | None = None,
    ) -> None:
        self.sender = sender
        self.timeout_s = timeout_s
        # an answer later than the timeout is still waited for a while, so the report can say how late it was
        self.request_cap_s = timeout_s * 2 + 1.0
        self.monotonic = monotonic
        self.max_total_s = max_total_s
        self.state = state

    async def run(self, url: str, cases: list[Case]) -> list[Outcome]:
        check_url(url, "URL")
        if self.state is not None:
            check_url(self.state.url_template, "--state-url")
            for case in cases:  # every state URL stays on the template's host
                if origin(self.state.url(case.fields)) != origin(self.state.url_template):
                    raise AuditError(f"--state-url {self.state.url_template!r}: a field changes its host")
        deadline = self.monotonic() + self.max_total_s
        outcomes: list[Outcome] = []
        for index, case in enumerate(cases):
            if self.monotonic() >= deadline:
                late = f"not sent: the audit's {self.max_total_s:g} s limit was reached"
                outcomes.append(Outcome(case, Answer(None, late, 0.0, sent=False)))
                continue
            before = await self._read_state(case, deadline) if self.state else None
            answer = await self.sender.request("POST", url, case.body, case.headers, self._cap(deadline))
            if index == 0 and answer.connect_failed:
                raise AuditError(f"cannot reach {url}: {answer.error}")
            after = await self._read_state(case, deadline) if self.state else None
            outcomes.append(Outcome(case, answer, before, after))
        return outcomes

    def _cap(self, deadline: float) -> float:
        """A request's time limit: never past the audit's own (a slow receiver cannot stretch the total)."""
        return max(0.05, min(self.request_cap_s, deadline - self.monotonic()))

    async def _read_state(self, case: Case, deadline: float) -> StateReading:
        assert self.state is not None
        url = self.state.url(case.fields)
        answer = await self.sender.request("GET", url, None, self.state.headers or {}, self._cap(deadline))
        field = self.state.field
        if answer.status == 404:
            return StateReading(None, field=field)  # no such order (yet): its state is "absent"
        if answer.status is None or not 200 <= answer.status < 300:
            return StateReading(error=f"GET {url} answered {answer.status or answer.error}", field=field)
        try:
            value = self.state.read(json.loads(answer.body))
            shown = not self.state.numbers_only or value is None or isinstance(value, bool | int | float)
            return StateReading(value, field=field, shown=shown)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than json reads (`[[[[...`)
            return StateReading(error=f"GET {url} answered something that is not JSON we can read", field=field)
        except KeyError:
            return StateReading(error=f"GET {url} has no {field!r} in its answer", field=field)


class HttpSender:
    """The audit's requests go through the webhook sender (delivery/http11.py), with its caps on an
    answer's head, `1xx` responses (8), headers and body: a receiver streaming `100 Continue` costs a few
    hundred bytes, not the whole timeout's CPU. No redirects followed, no proxy, `timeout_s` for the
    whole request, at most MAX_ANSWER_BYTES of an answer kept. `allowed_hosts` (PAYMOCK_CALLBACK_HOSTS
    on the server) refuses other hosts. The time is the whole answer's (status, headers and the part of
    the body read): at most what the receiver's provider would wait for."""

    def __init__(self, allowed_hosts: frozenset[str] = frozenset()) -> None:
        from ..delivery.http11 import Http11Sender

        self._http = Http11Sender(max_connections=4)  # one request at a time; webhook and state hosts
        self._allowed = allowed_hosts

    async def request(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str], timeout_s: float
    ) -> Answer:
        host = callback_host(url)  # the rule webhooks follow (domain.payments.check_callback_host)
        if self._allowed and host not in self._allowed:
            return Answer(None, f"host {host!r} is not in PAYMOCK_CALLBACK_HOSTS; not sent", 0.0)
        sent = await self._http.request(method, url, body or b"", headers, timeout_s, keep=MAX_ANSWER_BYTES)
        elapsed = sent.latency_ms / 1000.0
        if sent.status is not None:
            return Answer(sent.status, None, elapsed, sent.body)
        if sent.timed_out:
            return Answer(None, f"no answer within {timeout_s:g} s", elapsed, timed_out=True)
        if sent.connect_failed:
            return Answer(None, sent.error, elapsed, connect_failed=True)
        return Answer(None, f"connection dropped ({sent.error})", elapsed)

    async def close(self) -> None:
        await self._http.close()
