"""QA scripts: a short list of steps run against paymock, each reported as pass or fail.

A script is YAML (see `example_scripts/`)::

    name: flaky-webhook
    description: the webhook fails 3 times, then the 4th attempt completes the payment
    steps:
      - create: {count: 2, scenario: webhook-flaky, amount: 1000}
        expect: {status: PENDING}
      - wait: {state: acknowledged, timeout_ms: 10000}
        expect: {attempts: 4, payment_status: PAYMENT_COMPLETED}

Steps after a `create` act on the payments that step created. No Streamlit here: the runner is
plain Python over `PaymockClient`, so it is easy to test and to reuse.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from paymock import PaymockClient, PaymockError, checked, load_yaml

from . import problems

ACTIONS = ("create", "wait", "confirm", "check", "set_active")
EXPECT_KEYS: dict[str, set[str]] = {
    "create": {"status", "failure_reason"},
    "wait": {"state", "attempts", "min_attempts", "max_attempts", "faults", "payment_status", "last_status_code"},
    "confirm": {"status"},
    "check": {"payment_status", "failure_reason", "scenario", "deliveries"},
    "set_active": set(),
}
PARAM_KEYS: dict[str, set[str]] = {
    "create": {"count", "scenario", "amount", "order_id", "user_id", "tx_id_prefix", "callback_url"},
    "wait": {"state", "event", "min_attempts", "timeout_ms"},
    "confirm": {"scenario"},
    "check": set(),
}
WAIT_STATES = ("acknowledged", "failed", "dropped", "settled", "attempted")
MAX_COUNT = 50  # payments per create step: a script is a probe, not a load test
MAX_WAIT_MS = 120_000  # a script's wait; the client asks in long-polls of at most 2 s until then
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
TX_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,40}$")


class StepError(Exception):
    """A step that cannot run as written (it acts on payments no step created)."""


class ScriptError(ValueError):
    """The script's YAML is not a valid script; `errors` names each problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass
class Step:
    action: str
    params: dict[str, Any]
    expect: dict[str, Any]
    title: str


@dataclass
class Script:
    name: str
    description: str
    steps: list[Step]
    callback_url: str | None = None


@dataclass
class StepResult:
    index: int
    title: str
    passed: bool
    summary: str
    failures: list[str] = field(default_factory=list)
    skipped: bool = False

    @property
    def verdict(self) -> str:
        return "SKIPPED" if self.skipped else ("PASS" if self.passed else "FAIL")


@dataclass
class ScriptRun:
    script: Script
    run_id: str
    results: list[StepResult]
    payment_ids: list[str]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)


def _describe(action: str, params: dict[str, Any]) -> str:
    if action == "create":
        scenario = params.get("scenario")
        under = f" under scenario {scenario}" if scenario else " (scenario from match rules / active)"
        return f"create {params.get('count', 1)} payment(s){under}"
    if action == "wait":
        return f"wait for delivery: {params.get('state', 'settled')}"
    if action == "set_active":
        return f"set active scenario: {params.get('name')}"
    return f"{action} each payment"


def parse_script(text: str) -> Script:
    """Parse and validate a script; raise ScriptError naming every problem (step and key)."""
    try:
        data = load_yaml(text, unique_keys=True)
    except yaml.YAMLError as exc:
        raise ScriptError([f"YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise ScriptError(["the script must be a mapping with `name` and `steps`"])
    errors: list[str] = []
    unknown = set(data) - {"name", "description", "steps", "callback_url"}
    errors += [f"unknown key `{k}`" for k in sorted(unknown, key=str)]
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.append("`name` is required (a string)")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        errors.append("`steps` must be a non-empty list")
        raw_steps = []
    steps = []
    for i, raw in enumerate(raw_steps, start=1):
        step, step_errors = _parse_step(raw)
        errors += [f"step {i}: {e}" for e in step_errors]
        if step is not None:
            steps.append(step)
    if errors:
        raise ScriptError(errors)
    callback = data.get("callback_url")
    return Script(str(name), str(data.get("description") or ""), steps, str(callback) if callback else None)


def _parse_step(raw: Any) -> tuple[Step | None, list[str]]:
    if not isinstance(raw, dict):
        return None, ["a step must be a mapping"]
    actions = [a for a in ACTIONS if a in raw]
    if len(actions) != 1:
        return None, [f"a step needs exactly one action of {', '.join(ACTIONS)}"]
    action = actions[0]
    errors = [f"unknown key `{k}`" for k in raw if k not in {action, "expect", "name"}]
    params_raw = raw[action]
    if action == "set_active":
        if not isinstance(params_raw, str):
            return None, ["`set_active` takes a scenario name"]
        params: dict[str, Any] = {"name": params_raw}
    else:
        params = params_raw or {}
        if not isinstance(params, dict):
            return None, [f"`{action}` takes a mapping"]
        errors += [f"{action}: unknown key `{k}`" for k in params if k not in PARAM_KEYS[action]]
    expect = raw.get("expect") or {}
    if not isinstance(expect, dict):
        return None, ["`expect` must be a mapping"]
    errors += [f"expect: unknown key `{k}` for {action}" for k in expect if k not in EXPECT_KEYS[action]]
    errors += _check_params(action, params)
    title = str(raw.get("name") or _describe(action, params))
    return Step(action, params, expect, title), errors


def _check_params(action: str, params: dict[str, Any]) -> list[str]:
    errors = []
    if action == "create":
        count = params.get("count", 1)
        if not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
            errors.append(f"create: `count` must be an integer from 1 to {MAX_COUNT}")
        prefix = params.get("tx_id_prefix", "qa")
        if not isinstance(prefix, str) or not TX_PREFIX_RE.fullmatch(prefix):
            errors.append("create: `tx_id_prefix` must be 1-40 of A-Z a-z 0-9 _ . : -")
        for key in ("amount", "order_id", "user_id"):
            if key in params and (not isinstance(params[key], int) or params[key] < 0):
                errors.append(f"create: `{key}` must be a non-negative integer")
    if action == "wait":
        if params.get("state", "settled") not in WAIT_STATES:
            errors.append(f"wait: `state` must be one of {', '.join(WAIT_STATES)}")
        timeout = params.get("timeout_ms", 10_000)
        if not isinstance(timeout, int) or not 0 <= timeout <= MAX_WAIT_MS:
            errors.append(f"wait: `timeout_ms` must be an integer from 0 to {MAX_WAIT_MS}")
    return errors


def _expect_equal(failures: list[str], label: str, expected: Any, actual: Any) -> None:
    if expected is not None and expected != actual:
        failures.append(f"{label}: expected {expected!r}, got {actual!r}")


class _Runner:
    def __init__(self, client: PaymockClient, script: Script, callback_url: str) -> None:
        self.client = client
        self.script = script
        self.callback_url = script.callback_url or callback_url
        self.run_id = secrets.token_hex(3)
        self.batch: list[str] = []  # payment ids of the latest create step
        self.created: list[str] = []

    def step(self, index: int, step: Step) -> StepResult:
        failures: list[str] = []
        summary = getattr(self, f"_{step.action}")(index, step, failures)
        return StepResult(index, step.title, not failures, summary, failures)

    def _need_batch(self) -> list[str]:
        if not self.batch:
            raise StepError("no payments to act on: put a `create` step first")
        return self.batch

    def _create(self, index: int, step: Step, failures: list[str]) -> str:
        p, exp = step.params, step.expect
        self.batch = []
        statuses = []
        for n in range(1, p.get("count", 1) + 1):
            tx_id = f"{p.get('tx_id_prefix', 'qa')}_{self.run_id}_{index}_{n}"
            answer = checked(
                self.client.create_payment(
                    tx_id,
                    str(p.get("callback_url") or self.callback_url).replace("{tx_id}", tx_id),
                    order_id=p.get("order_id", 1000 + n),
                    user_id=p.get("user_id", 1),
                    amount=p.get("amount", 1000),
                    scenario=p.get("scenario"),
                )
            )
            self.batch.append(answer["payment_id"])
            statuses.append(answer["status"])
            _expect_equal(failures, f"{tx_id} status", exp.get("status"), answer["status"])
            _expect_equal(failures, f"{tx_id} failure_reason", exp.get("failure_reason"), answer.get("failure_reason"))
        self.created += self.batch
        return f"created {len(self.batch)}: " + ", ".join(
            f"{pid} {s}" for pid, s in zip(self.batch, statuses, strict=True)
        )

    def _wait(self, _index: int, step: Step, failures: list[str]) -> str:
        p, exp = step.params, step.expect
        seen = []
        for payment_id in self._need_batch():
            try:
                delivery = self.client.wait_for_delivery(
                    payment_id=payment_id,
                    event=p.get("event"),
                    state=p.get("state", "settled"),
                    min_attempts=p.get("min_attempts"),
                    timeout=p.get("timeout_ms", 10_000) / 1000,
                )
            except PaymockError as exc:  # no answer at all is not this payment's failure: it propagates
                failures.append(f"{payment_id}: {exc.detail or exc}")
                continue
            attempts = delivery["attempt_count"]
            seen.append(f"{payment_id} {delivery['state']} after {attempts} attempt(s)")
            _expect_equal(failures, f"{payment_id} state", exp.get("state"), delivery["state"])
            _expect_equal(failures, f"{payment_id} attempts", exp.get("attempts"), attempts)
            _expect_equal(
                failures, f"{payment_id} last status", exp.get("last_status_code"), delivery["last_status_code"]
            )
            if exp.get("min_attempts") is not None and attempts < exp["min_attempts"]:
                failures.append(f"{payment_id} attempts: expected at least {exp['min_attempts']}, got {attempts}")
            if exp.get("max_attempts") is not None and attempts > exp["max_attempts"]:
                failures.append(f"{payment_id} attempts: expected at most {exp['max_attempts']}, got {attempts}")
            missing = [f for f in exp.get("faults") or [] if not any(f in got for got in delivery["faults"])]
            if missing:
                failures.append(f"{payment_id} faults: expected {missing}, got {delivery['faults']}")
            if exp.get("payment_status") is not None:
                status = self.client.payment(payment_id)["payment"]["status"]
                _expect_equal(failures, f"{payment_id} payment status", exp["payment_status"], status)
        return "; ".join(seen) or "no delivery reached the state"

    def _confirm(self, _index: int, step: Step, failures: list[str]) -> str:
        done = []
        for payment_id in self._need_batch():
            answer = checked(self.client.confirm_payment(payment_id, scenario=step.params.get("scenario")))
            done.append(f"{payment_id} {answer['status']}")
            _expect_equal(failures, f"{payment_id} status", step.expect.get("status"), answer["status"])
        return "confirmed " + ", ".join(done)

    def _check(self, _index: int, step: Step, failures: list[str]) -> str:
        exp, seen = step.expect, []
        for payment_id in self._need_batch():
            detail = self.client.payment(payment_id)
            payment = detail["payment"]
            seen.append(f"{payment_id} {payment['status']} ({len(detail['deliveries'])} deliveries)")
            _expect_equal(failures, f"{payment_id} status", exp.get("payment_status"), payment["status"])
            _expect_equal(
                failures, f"{payment_id} failure_reason", exp.get("failure_reason"), payment["failure_reason"]
            )
            _expect_equal(failures, f"{payment_id} scenario", exp.get("scenario"), payment["scenario"])
            _expect_equal(failures, f"{payment_id} deliveries", exp.get("deliveries"), len(detail["deliveries"]))
        return "; ".join(seen)

    def _set_active(self, _index: int, step: Step, _failures: list[str]) -> str:
        return f"active scenario is now {self.client.set_scenario(step.params['name'])}"


def run_script(
    client: PaymockClient,
    script: Script,
    callback_url: str,
    on_step: Callable[[StepResult], None] | None = None,
) -> ScriptRun:
    """Run every step in order. A failed expectation fails its step and the run goes on; when the
    server cannot be reached at all, the remaining steps are reported as skipped."""
    runner = _Runner(client, script, callback_url)
    results: list[StepResult] = []
    unreachable: str | None = None
    for index, step in enumerate(script.steps, start=1):
        if unreachable:
            result = StepResult(index, step.title, False, f"skipped: {unreachable}", skipped=True)
        else:
            try:
                result = runner.step(index, step)
            except (StepError, *problems.FAILED) as exc:
                text = problems.message(exc, client.base_url)
                result = StepResult(index, step.title, False, text, [text, *problems.named_errors(exc)])
                if problems.unreachable(exc):
                    unreachable = "the server could not be reached"
        results.append(result)
        if on_step is not None:
            on_step(result)
    return ScriptRun(script, runner.run_id, results, runner.created)


# Saving and loading script files
def example_scripts() -> dict[str, str]:
    """The example scripts shipped with the console: file name -> YAML text."""
    folder = resources.files("paymock_console") / "example_scripts"
    return {
        f.name: f.read_text("utf-8") for f in sorted(folder.iterdir(), key=lambda f: f.name) if f.name.endswith(".yaml")
    }


def scripts_dir() -> Path:
    """Where QA saves scripts: $PAYMOCK_CONSOLE_SCRIPTS, else ./qa_scripts (next to where the console runs)."""
    return Path(os.environ.get("PAYMOCK_CONSOLE_SCRIPTS") or "qa_scripts")


def saved_scripts() -> dict[str, str]:
    folder = scripts_dir()
    if not folder.is_dir():
        return {}
    return {p.name: p.read_text("utf-8") for p in sorted(folder.glob("*.yaml"))}


def save_script(file_name: str, text: str) -> Path:
    """Validate, then write `<scripts_dir>/<file_name>.yaml`; a bad script or name writes nothing."""
    stem = file_name.removesuffix(".yaml")
    if not NAME_RE.fullmatch(stem):
        raise ScriptError(["file name: use 1-64 of A-Z a-z 0-9 _ . -"])
    parse_script(text)
    folder = scripts_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.yaml"
    path.write_text(text, "utf-8")
    return path
