"""The audit's domain parts without I/O: the battery's requests, grading, rendering, and the runner's bounds
(with an injected sender and clock)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator

from paymock.audit import AuditError, Report, StateProbe
from paymock.audit.checks import STALE_AGE_S, Signing, battery
from paymock.audit.report import grade
from paymock.audit.runner import Answer, Outcome, Runner, StateReading
from paymock.domain.webhooks import verify_seed, verify_standard
from paymock.resources import load_spec

SECRET = "grading-secret"
NOW = 1_800_000_000.0
CASES = {c.id: c for c in battery(Signing(SECRET, "tok"), NOW, "r1", 1000)}


def _verdicts(case_id: str) -> tuple[bool, str | None]:
    case = CASES[case_id]
    lower = {k.lower(): v for k, v in case.headers.items()}
    return verify_seed(SECRET, case.body, lower.get("x-payment-signature")), verify_standard(
        SECRET, case.body, case.headers, NOW
    )


def test_the_battery_signs_with_the_dispatchers_functions_and_breaks_what_each_case_says() -> None:
    assert _verdicts("valid-completed") == (True, None)
    assert _verdicts("valid-failed") == (True, None)
    assert _verdicts("duplicate") == (True, None)
    assert CASES["duplicate"].headers["webhook-id"] == CASES["valid-completed"].headers["webhook-id"]
    assert CASES["duplicate"].body == CASES["valid-completed"].body
    for case_id in ("wrong-key", "unsigned", "tampered-body", "foreign-signature"):
        seed_ok, standard_error = _verdicts(case_id)
        assert not seed_ok and standard_error is not None, case_id
    assert _verdicts("standard-signature")[0] is True  # only webhook-signature is wrong
    assert _verdicts("standard-signature")[1] == "no matching v1 signature"
    assert _verdicts("stale-timestamp")[0] is True
    assert CASES["stale-timestamp"].headers["webhook-timestamp"] == str(int(NOW) - STALE_AGE_S)
    assert "s away from now" in (_verdicts("stale-timestamp")[1] or "")
    for case_id in ("not-json", "not-the-payload", "unknown-event"):
        assert _verdicts(case_id) == (True, None), case_id  # validly signed: only the content is wrong
    assert json.loads(CASES["unknown-event"].body)["event"] == "payment.refunded"
    assert all(c.headers["Authorization"] == "Bearer tok" for c in CASES.values())
    orders = [c.fields["order_id"] for c in CASES.values() if c.id != "duplicate"]
    assert len(set(orders)) == len(orders)  # each case's effect is read on its own order
    assert len({c.headers["webhook-id"] for c in CASES.values()}) == len(CASES) - 1  # only the duplicate repeats


def _outcome(case_id: str, status: int | None, elapsed: float = 0.01, **state: Any) -> Outcome:
    error = None if status is not None else state.pop("error", "connection dropped (RemoteProtocolError)")
    before = StateReading(state["before"], field="paid") if "before" in state else None
    after = StateReading(state["after"], field="paid") if "after" in state else None
    answer = Answer(status, error, elapsed, timed_out=state.get("timed_out", False))
    return Outcome(CASES[case_id], answer, before, after)


def _graded(*outcomes: Outcome, timeout_s: float = 5.0) -> Report:
    return grade("http://127.0.0.1:1/hook", list(outcomes), timeout_s)


@pytest.mark.parametrize(
    ("case_id", "status", "expected", "phrase"),
    [
        ("valid-completed", 200, "pass", "answered 200 in 10 ms"),
        ("valid-completed", 204, "pass", "answered 204"),
        ("valid-completed", 302, "fail", "not an acknowledgement"),
        ("valid-failed", 400, "fail", "the provider retries it"),
        ("duplicate", 409, "fail", "not an acknowledgement"),
        ("wrong-key", 401, "pass", "answered 401"),
        ("wrong-key", 200, "fail", "anyone who knows the URL"),
        ("unsigned", 500, "fail", "expected a refusal (4xx)"),
        ("tampered-body", None, "fail", "a dropped connection is retried"),
        ("not-json", 200, "fail", "cannot have parsed"),
        ("not-the-payload", 201, "fail", "stored as garbage"),
        ("not-the-payload", 422, "pass", "answered 422"),
        ("unknown-event", 200, "pass", "answered 200"),
        ("unknown-event", 404, "pass", "answered 404"),
        ("unknown-event", 503, "fail", "can never take"),
        ("unknown-event", None, "fail", "connection dropped"),
        ("standard-signature", 200, "warn", "only X-Payment-Signature is checked"),
    ],
)
def test_each_answer_is_graded_against_its_expectation(case_id: str, status: int | None, expected: str, phrase: str):
    check = _graded(_outcome(case_id, status)).check(case_id)
    assert check.grade == expected
    assert phrase in check.detail
    assert check.status == status


def test_a_stale_timestamp_accepted_is_a_warning_unless_the_receiver_verifies_standard_webhooks() -> None:
    seed_only = _graded(_outcome("standard-signature", 200), _outcome("stale-timestamp", 200))
    assert seed_only.check("stale-timestamp").grade == "warn"
    assert "replayed at any time" in seed_only.check("stale-timestamp").detail
    assert seed_only.ok
    standard = _graded(_outcome("standard-signature", 401), _outcome("stale-timestamp", 200))
    assert standard.check("stale-timestamp").grade == "fail"
    assert "timestamp is not checked" in standard.check("stale-timestamp").detail
    assert _graded(_outcome("stale-timestamp", 401)).check("stale-timestamp").grade == "pass"


def test_answer_time_fails_with_each_late_answer_and_its_time() -> None:
    report = _graded(
        _outcome("valid-completed", 200, elapsed=2.5),
        _outcome("wrong-key", 401, elapsed=0.02),
        _outcome("not-json", None, elapsed=3.0, error="no answer within 3 s", timed_out=True),
        timeout_s=2.0,
    )
    late = report.check("answer-time")
    assert late.grade == "fail"
    assert late.detail == (
        "over the 2 s timeout: valid-completed answered after 2.50 s, not-json gave no answer after 3.00 s"
    )
    assert late.elapsed_ms == 3000.0
    assert report.check("valid-completed").grade == "fail"  # a late 2xx is no acknowledgement
    assert "over the provider's 2 s timeout" in report.check("valid-completed").detail
    assert report.check("wrong-key").grade == "pass"
    assert report.check("not-json").detail == (
        "no answer within 3 s: the provider gives up at its timeout and retries; answer 4xx at once"
    )
    fast = _graded(_outcome("valid-completed", 200, elapsed=0.004), _outcome("wrong-key", 401, elapsed=0.02))
    assert fast.check("answer-time").grade == "pass"
    assert fast.check("answer-time").detail == "slowest answer 20 ms (wrong-key); timeout 5 s"


def test_effects_flag_a_duplicate_twice_and_a_refusal_that_took_effect() -> None:
    report = _graded(
        _outcome("valid-completed", 200, before=None, after=1),
        _outcome("duplicate", 200, before=1, after=2),
        _outcome("wrong-key", 401, before=None, after=1),
        _outcome("unsigned", 401, before=0, after=0),
        _outcome("unknown-event", 200, before=0, after=5),
    )
    assert report.check("valid-completed").detail == "answered 200 in 10 ms; paid absent -> 1"
    assert report.check("duplicate").grade == "fail"
    assert "took effect twice: paid changed again (1 -> 2)" in report.check("duplicate").detail
    assert report.check("wrong-key").grade == "fail"
    took = "refused, but took effect anyway: paid changed (absent -> 1)"
    assert took in report.check("wrong-key").detail
    assert report.check("unsigned").grade == "pass"
    assert report.check("unknown-event").grade == "pass"  # an unknown event may do what the receiver likes
    unchanged = _graded(_outcome("valid-completed", 200, before=0, after=0)).check("valid-completed")
    assert unchanged.grade == "warn" and "did not change" in unchanged.detail
    unread = Outcome(CASES["wrong-key"], Answer(401, None, 0.01), StateReading(error="GET x: 500"), StateReading(0))
    assert _graded(unread).check("wrong-key").grade == "warn"


def test_the_report_renders_as_a_table_and_as_json_the_api_schema_accepts() -> None:
    report = _graded(_outcome("valid-completed", 200), _outcome("not-json", 500))
    table = report.table()
    assert "FAIL  not-json" in table and "why: A crash (5xx)" in table and "fix: Parse the body" in table
    assert "why:" not in table.split("FAIL  not-json")[0]  # passing checks stay one line
    assert table.endswith("2 passed, 0 warned, 1 failed: FAILED")  # with answer-time
    document = json.loads(report.to_json())
    spec = load_spec("control.yaml")
    schema = {**spec["components"]["schemas"]["AuditReport"], "components": spec["components"]}
    OAS30Validator(schema).validate(document)  # what POST /mock/v1/audit answers, as the contract says
    with pytest.raises(AssertionError, match=r"FAIL not-json: answered 500 in 10 ms: expected a refusal"):
        report.assert_passed()


def test_state_probe_reads_a_key_or_a_json_pointer() -> None:
    doc = {"paid": 2, "order": {"lines": [{"qty": 3}], "a/b": 1}}
    assert StateProbe("http://h/{order_id}", "paid").read(doc) == 2
    assert StateProbe("http://h/{order_id}", "/order/lines/0/qty").read(doc) == 3
    assert StateProbe("http://h/{order_id}", "/order/a~1b").read(doc) == 1
    with pytest.raises(KeyError):
        StateProbe("http://h/{order_id}", "/order/missing").read(doc)
    assert StateProbe("http://h/o/{order_id}?tx={tx_id}", "paid").url({"order_id": 7, "tx_id": "a/b"}) == (
        "http://h/o/7?tx=a%2Fb"  # a field is one escaped segment: it cannot reach another path
    )


class ScriptedSender:
    """Answers from a script and advances an injected clock: the runner's bounds without a network."""

    def __init__(self, clock: list[float], answers: dict[str, Answer], step_s: float = 1.0) -> None:
        self.clock = clock
        self.answers = answers
        self.step_s = step_s
        self.sent: list[tuple[str, str]] = []
        self.limits: list[float] = []

    async def request(self, method: str, url: str, body: bytes | None, headers: dict[str, str], timeout_s: float):
        self.sent.append((method, url))
        self.limits.append(timeout_s)
        self.clock[0] += self.step_s
        return self.answers.get(method, Answer(200, None, self.step_s))


def _run(sender: ScriptedSender, clock: list[float], **options: Any) -> list[Outcome]:
    runner = Runner(sender, timeout_s=5.0, monotonic=lambda: clock[0], **options)
    return asyncio.run(runner.run("http://127.0.0.1:1/hook", list(CASES.values())))


def test_the_runner_stops_sending_at_its_total_time_limit() -> None:
    clock = [0.0]
    sender = ScriptedSender(clock, {}, step_s=2.0)
    outcomes = _run(sender, clock, max_total_s=5.0)
    assert len(sender.sent) == 3  # at 0, 2 and 4 s; at 6 s the limit has passed
    assert sender.limits == [5.0, 3.0, 1.0]  # each request's own limit ends with the audit's, not later
    assert [o.answer.status for o in outcomes[3:]] == [None] * (len(CASES) - 3)
    assert outcomes[-1].answer.error == "not sent: the audit's 5 s limit was reached"
    report = grade("http://127.0.0.1:1/hook", outcomes, 5.0)
    assert report.check("not-json").grade == "fail"
    assert report.check("not-json").detail == "not sent: the audit's 5 s limit was reached"  # no advice on it


def test_the_runner_refuses_to_start_on_a_url_nothing_listens_at() -> None:
    clock = [0.0]
    refused = Answer(None, "cannot connect (refused)", 0.0, connect_failed=True)
    sender = ScriptedSender(clock, {"POST": refused})
    with pytest.raises(AuditError, match=r"cannot reach http://127.0.0.1:1/hook: cannot connect \(refused\)"):
        _run(sender, clock)
    assert len(sender.sent) == 1


def test_the_runner_reads_state_before_and_after_each_case_on_the_state_host_only() -> None:
    clock = [0.0]
    sender = ScriptedSender(clock, {"GET": Answer(200, None, 0.0, body=b'{"paid": 0}')})
    outcomes = _run(sender, clock, state=StateProbe("http://127.0.0.1:2/orders/{order_id}", "paid"))
    assert [m for m, _ in sender.sent[:3]] == ["GET", "POST", "GET"]
    assert all(url.startswith("http://127.0.0.1:2/orders/") for m, url in sender.sent if m == "GET")
    assert outcomes[0].before == StateReading(0, field="paid") == outcomes[0].after
    with pytest.raises(AuditError, match="a field changes its host"):
        _run(ScriptedSender(clock, {}), clock, state=StateProbe("http://{order_id}.example/", "paid"))
    missing = ScriptedSender(clock, {"GET": Answer(200, None, 0.0, body=b'{"other": 1}')})
    assert _run(missing, clock, state=StateProbe("http://127.0.0.1:2/{order_id}", "paid"))[0].after.error == (
        f"GET http://127.0.0.1:2/{CASES['valid-completed'].fields['order_id']} has no 'paid' in its answer"
    )


@pytest.mark.parametrize(
    "template",
    [
        "http://h/{order_id:>100000000}",  # a width: one short template made gigabytes of URL (7 GB RSS)
        "http://h/{order_id!r}",  # a conversion
        "http://h/{order_id.__class__}",  # an attribute of the value
        "http://h/{order_id[0]}",  # an index into it
        "http://h/{}",  # positional
    ],
)
def test_a_state_url_placeholder_is_a_bare_field_name_nothing_more(template: str) -> None:
    with pytest.raises(AuditError, match=r"is not a field; use \{order_id\}"):
        StateProbe(template, "paid").url({"order_id": 7})


def test_a_state_answer_nested_too_deeply_is_an_unread_state_not_a_crash() -> None:
    clock = [0.0]
    sender = ScriptedSender(clock, {"GET": Answer(200, None, 0.0, body=b"[" * 60_000)})
    outcomes = _run(sender, clock, state=StateProbe("http://127.0.0.1:2/orders/{order_id}", "paid"))
    assert outcomes[0].before is not None
    assert outcomes[0].before.error is not None and "not JSON" in outcomes[0].before.error
