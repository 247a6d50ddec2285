"""Scenarios: the model, loading and validation of YAML fixtures, and selection per request.

A scenario decides a payment's outcome, what happens to its webhooks and how the API answers.
Documents are validated against the `Scenario` schema in openapi/control.yaml (one source of truth
for the fixture files and the control API), plus the few rules a schema cannot say.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator

from ..resources import fixtures_dir, load_spec, load_yaml
from .bounded_arrays import with_bounded_arrays
from .errors import Conflict, InvalidScenario, ScenarioNotFound, UnknownScenario
from .limits import MAX_RUNTIME_SCENARIOS
from .patterns import EcmaDraft4Validator

DEFAULT_NAME = "default"
# Modelled on Svix / Standard Webhooks: attempts at 0, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
DEFAULT_RETRY_SCHEDULE_MS: tuple[int, ...] = (
    5_000,
    300_000,
    1_800_000,
    7_200_000,
    18_000_000,
    36_000_000,
    36_000_000,
)
DEFAULT_REORDER_HOLD_MS = 5_000
OPERATIONS = ("create", "confirm", "listing")


@dataclass(frozen=True, slots=True)
class WebhookPlan:
    """What a scenario does to webhooks; shared by every delivery made under it."""

    mode: str = "deliver"
    fail_attempts: int = 0
    delay_ms: int = 0
    duplicates: int = 0
    reorder: bool = False
    reorder_hold_ms: int = DEFAULT_REORDER_HOLD_MS
    signature: str = "valid"
    body: str = "valid"
    fault_attempts: int | None = None
    retry_schedule_ms: tuple[int, ...] = DEFAULT_RETRY_SCHEDULE_MS

    @property
    def max_attempts(self) -> int:
        return len(self.retry_schedule_ms) + 1

    def faults_apply(self, attempt_number: int) -> bool:
        """Whether scheduled attempt `attempt_number` (1-based) carries the signature/body faults. They count
        attempts actually sent: one that `fail_attempts` simulates reaches nobody, so its faults would too."""
        sent_number = attempt_number - self.fail_attempts
        return sent_number >= 1 and (self.fault_attempts is None or sent_number <= self.fault_attempts)

    def fault_labels(self) -> tuple[str, ...]:
        """What this plan does on purpose, for the delivery log."""
        labels = []
        if self.mode == "drop":
            labels.append("dropped")
        if self.fail_attempts:
            labels.append(f"network failure on first {self.fail_attempts} attempt(s)")
        if self.delay_ms:
            labels.append(f"delayed {self.delay_ms} ms")
        if self.duplicates:
            labels.append(f"{self.duplicates} duplicate(s)")
        if self.reorder:
            labels.append("reordered")
        scope = "every attempt" if self.fault_attempts is None else f"first {self.fault_attempts} attempt(s) sent"
        if self.signature != "valid":
            labels.append(f"signature {self.signature} ({scope})")
        if self.body != "valid":
            labels.append(f"body {self.body} ({scope})")
        if self.retry_schedule_ms != DEFAULT_RETRY_SCHEDULE_MS:
            labels.append(f"retry schedule {list(self.retry_schedule_ms)} ms")
        return tuple(labels)


@dataclass(frozen=True, slots=True)
class ApiPlan:
    error_status: int | None = None
    retry_after_s: int | None = None
    latency_ms: int = 0
    times: int | None = None
    operations: tuple[str, ...] = ("create", "confirm")

    @property
    def active(self) -> bool:
        return self.error_status is not None or self.latency_ms > 0


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    outcome: str = "complete"  # complete | fail | pending | delayed
    failure_reason: str = "CARD_DECLINED"
    payment_delay_ms: int = 0
    match: Mapping[str, Any] | None = None
    webhook: WebhookPlan = field(default_factory=WebhookPlan)
    api: ApiPlan = field(default_factory=ApiPlan)

    def as_document(self) -> dict[str, Any]:
        """The scenario as loaded, every default filled in (the control API's view of it)."""
        w, a = self.webhook, self.api
        doc: dict[str, Any] = {"name": self.name, "description": self.description}
        if self.match:
            doc["match"] = dict(self.match)
        doc["payment"] = {"outcome": self.outcome, "auto_complete": self.outcome != "pending"}
        if self.outcome == "fail":
            doc["payment"]["failure_reason"] = self.failure_reason
        if self.outcome == "delayed":
            doc["payment"]["delay_ms"] = self.payment_delay_ms
        doc["webhook"] = {"mode": w.mode}
        if w.mode != "drop":
            doc["webhook"].update(
                fail_attempts=w.fail_attempts,
                delay_ms=w.delay_ms,
                duplicates=w.duplicates,
                reorder=w.reorder,
                signature=w.signature,
                body=w.body,
                retry_schedule_ms=list(w.retry_schedule_ms),
            )
            if w.reorder:
                doc["webhook"]["reorder_hold_ms"] = w.reorder_hold_ms
            if w.fault_attempts is not None:
                doc["webhook"]["fault_attempts"] = w.fault_attempts
        api: dict[str, Any] = {"latency_ms": a.latency_ms, "operations": list(a.operations)}
        if a.error_status is not None:
            api["error_status"] = a.error_status
            if a.retry_after_s is not None:
                api["retry_after_s"] = a.retry_after_s
        if a.times is not None:
            api["times"] = a.times
        doc["api"] = api
        return doc

    def matches(self, request: Mapping[str, Any]) -> bool:
        if not self.match:
            return False
        for key, expected in self.match.items():
            if key == "tx_id_prefix":
                if not str(request.get("tx_id", "")).startswith(expected):
                    return False
            elif request.get(key) != expected:
                return False
        return True


def _schema() -> dict[str, Any]:
    spec = load_spec("control.yaml")
    return {"$ref": "#/components/schemas/Scenario", "components": spec["components"]}


_VALIDATOR: Draft4Validator | None = None


def _validator() -> Draft4Validator:
    global _VALIDATOR
    if _VALIDATOR is None:
        _VALIDATOR = with_bounded_arrays(EcmaDraft4Validator)(_schema())
    return _VALIDATOR


def _key(path: Iterable[Any]) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def parse(document: Any, source: str) -> Scenario:
    """Validate one scenario document and build the model; InvalidScenario names every bad key."""
    if not isinstance(document, dict):
        raise InvalidScenario(
            source, [f"(top level): expected a mapping of scenario keys, got {type(document).__name__}"]
        )
    errors = [
        f"{_key(e.absolute_path)}: {e.message}"
        for e in sorted(_validator().iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if errors:
        raise InvalidScenario(source, errors)
    payment = document.get("payment", {})
    webhook = document.get("webhook", {})
    api = document.get("api", {})
    outcome = payment.get("outcome", "complete")
    if payment.get("auto_complete") is False:
        if outcome not in ("complete", "pending"):  # reported once; the outcome stays as written
            errors.append(f"payment.auto_complete: false contradicts outcome {outcome!r} (use outcome: pending)")
        else:
            outcome = "pending"
    elif payment.get("auto_complete") is True and outcome == "pending":
        errors.append("payment.auto_complete: true contradicts outcome 'pending'")
    if outcome == "delayed" and not payment.get("delay_ms"):
        errors.append("payment.delay_ms: required (> 0) when outcome is 'delayed'")
    if "delay_ms" in payment and outcome != "delayed":
        errors.append(f"payment.delay_ms: only used with outcome 'delayed', not {outcome!r}")
    if "failure_reason" in payment and outcome != "fail":
        errors.append(f"payment.failure_reason: only used with outcome 'fail', not {outcome!r}")
    if "retry_after_s" in api and "error_status" not in api:
        errors.append("api.retry_after_s: only used together with api.error_status")
    if "times" in api and "error_status" not in api and not api.get("latency_ms"):
        errors.append("api.times: needs api.error_status or api.latency_ms to count")
    if (
        "fault_attempts" in webhook
        and webhook.get("signature", "valid") == "valid"
        and webhook.get("body", "valid") == "valid"
    ):
        errors.append("webhook.fault_attempts: only used with a webhook.signature or webhook.body fault")
    if "reorder_hold_ms" in webhook and not webhook.get("reorder"):
        errors.append("webhook.reorder_hold_ms: only used with webhook.reorder: true")
    if webhook.get("mode") == "drop" and len(webhook) > 1:
        errors.append("webhook: mode 'drop' sends nothing, so no other webhook key applies")
    if errors:
        raise InvalidScenario(source, errors)
    plan = WebhookPlan(
        mode=webhook.get("mode", "deliver"),
        fail_attempts=webhook.get("fail_attempts", 0),
        delay_ms=webhook.get("delay_ms", 0),
        duplicates=webhook.get("duplicates", 0),
        reorder=webhook.get("reorder", False),
        reorder_hold_ms=webhook.get("reorder_hold_ms", DEFAULT_REORDER_HOLD_MS),
        signature=webhook.get("signature", "valid"),
        body=webhook.get("body", "valid"),
        fault_attempts=webhook.get("fault_attempts"),
        retry_schedule_ms=tuple(webhook.get("retry_schedule_ms", DEFAULT_RETRY_SCHEDULE_MS)),
    )
    api_plan = ApiPlan(
        error_status=api.get("error_status"),
        retry_after_s=api.get("retry_after_s"),
        latency_ms=api.get("latency_ms", 0),
        times=api.get("times"),
        operations=tuple(api.get("operations", ("create", "confirm"))),
    )
    return Scenario(
        name=document["name"],
        description=document["description"].strip(),
        outcome=outcome,
        failure_reason=payment.get("failure_reason", "CARD_DECLINED"),
        payment_delay_ms=payment.get("delay_ms", 0),
        match=document.get("match"),
        webhook=plan,
        api=api_plan,
    )


def _name_mismatch(document: Mapping[str, Any], name: str) -> list[str]:
    """The error for a document whose `name` is not the one it is stored under (absent is fine)."""
    given = document.get("name", name)
    if given == name:
        return []
    return [f"name: {given!r} differs from the path's {name!r}; leave it out or make it the same"]


def scenario_warnings(scenario: Scenario) -> list[str]:
    """Settings that are valid but defeat themselves. Not refused: a test may want exactly that
    (a webhook that is never delivered), but whoever wrote it by mistake should hear of it."""
    found = []
    plan = scenario.webhook
    if plan.mode != "drop" and plan.fail_attempts >= plan.max_attempts:
        attempts = f"{plan.max_attempts} attempt{'s' if plan.max_attempts != 1 else ''}"
        found.append(
            f"webhook.fail_attempts {plan.fail_attempts} >= the {attempts} of the retry schedule: "
            "no scheduled attempt is sent, so every delivery ends failed"
        )
    return found


def load_file(path: Path) -> Scenario:
    source = str(path)
    try:
        document = load_yaml(path.read_text(encoding="utf-8"), unique_keys=True)
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidScenario(source, [f"(file): cannot read: {exc}"]) from exc
    except yaml.YAMLError as exc:
        raise InvalidScenario(source, [f"(file): not valid YAML: {exc}"]) from exc
    scenario = parse(document, source)
    if scenario.name != path.stem:
        raise InvalidScenario(source, [f"name: {scenario.name!r} must match the file name {path.stem!r}"])
    return scenario


def scenario_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
    if path.is_file():
        return [path]
    raise InvalidScenario(str(path), ["(path): no such file or directory"])


def load_paths(paths: Iterable[Path]) -> dict[str, tuple[Scenario, str]]:
    """Load every scenario file; later paths override earlier ones by name (a user's own default)."""
    loaded: dict[str, tuple[Scenario, str]] = {}
    shipped = fixtures_dir().resolve()
    for root in paths:
        kind = "fixture" if root.resolve() == shipped else "file"  # listings tell yours from the shipped ones
        seen_here: dict[str, Path] = {}
        for file in scenario_files(root):
            scenario = load_file(file)
            if scenario.name in seen_here:
                raise InvalidScenario(
                    str(file), [f"name: {scenario.name!r} is also defined in {seen_here[scenario.name]}"]
                )
            seen_here[scenario.name] = file
            loaded[scenario.name] = (scenario, f"{kind}:{file.name}")
    if DEFAULT_NAME not in loaded:
        raise InvalidScenario(", ".join(map(str, paths)), [f"name: no scenario named {DEFAULT_NAME!r} was loaded"])
    return loaded


class ScenarioBook:
    """The scenarios a server knows: fixtures, run-time ones, the active one and API-call counters."""

    def __init__(self, fixtures: dict[str, tuple[Scenario, str]]) -> None:
        self._fixtures = fixtures
        self._runtime: dict[str, Scenario] = {}
        self.active_name = DEFAULT_NAME
        self._api_calls: dict[str, int] = {}
        self._matchers: list[Scenario] = []
        self._rebuild()

    def _rebuild(self) -> None:
        # Most specific rule first (more keys); on a tie run-time scenarios, then your files, then the
        # shipped ones (a rule you copy from a fixture takes over), then by name. Predictable.
        kinds = {"runtime": 0, "file": 1, "fixture": 2}

        def rank(pair: tuple[Scenario, str]) -> tuple[int, int, str]:
            scenario, source = pair
            return (-len(scenario.match or {}), kinds.get(source.partition(":")[0], 1), scenario.name)

        self._matchers = [s for s, _ in sorted((p for p in self.all() if p[0].match), key=rank)]

    def names(self) -> list[str]:
        return [s.name for s, _ in self.all()]

    def all(self) -> list[tuple[Scenario, str]]:
        merged = {name: pair for name, pair in self._fixtures.items()}
        for name, scenario in self._runtime.items():
            merged[name] = (scenario, "runtime")
        return sorted(
            merged.values(), key=lambda pair: (pair[1] == "runtime", pair[0].name != DEFAULT_NAME, pair[0].name)
        )

    def get(self, name: str) -> tuple[Scenario, str]:
        if name in self._runtime:
            return self._runtime[name], "runtime"
        if name in self._fixtures:
            return self._fixtures[name]
        raise UnknownScenario(name, self.names())

    def lookup(self, name: str) -> tuple[Scenario, str]:
        """`get` for the scenario as a resource: a missing one is not found rather than unknown."""
        try:
            return self.get(name)
        except UnknownScenario as exc:
            raise ScenarioNotFound(name, exc.known) from None

    def scenario(self, name: str) -> Scenario:
        """The scenario by name, falling back to the default when it has since been removed."""
        try:
            return self.get(name)[0]
        except UnknownScenario:
            return self.get(DEFAULT_NAME)[0]

    @property
    def active(self) -> Scenario:
        return self.scenario(self.active_name)

    def select(self, header: str | None, request: Mapping[str, Any] | None = None) -> Scenario:
        """Header first, then match rules on the request data, then the active scenario."""
        if header:
            return self.get(header)[0]
        if request is not None:
            for scenario in self._matchers:
                if scenario.matches(request):
                    return scenario
        return self.active

    def set_active(self, name: str) -> Scenario:
        scenario = self.get(name)[0]
        self.active_name = name
        self._api_calls.pop(name, None)
        return scenario

    def put(self, document: Mapping[str, Any], name: str, dry_run: bool = False) -> tuple[Scenario, bool]:
        """Validate and store a run-time scenario named `name` (the document's own `name` may be left
        out); returns it and whether it is new."""
        mismatch = _name_mismatch(document, name)
        try:
            scenario = parse({**document, "name": name}, "request body")
        except InvalidScenario as exc:  # one answer lists every error, the name's first
            raise InvalidScenario("request body", mismatch + exc.errors) from None
        if mismatch:
            raise InvalidScenario("request body", mismatch)
        created = name not in self._runtime and name not in self._fixtures
        if name not in self._runtime and len(self._runtime) >= MAX_RUNTIME_SCENARIOS:
            # a dry run too: it answers whether the same PUT would be taken
            raise Conflict(
                f"this server already keeps {len(self._runtime):,} run-time scenarios, the most it takes "
                f"({MAX_RUNTIME_SCENARIOS:,}); nothing was stored: replace or delete one, or reset"
            )
        if not dry_run:
            self._runtime[name] = scenario
            self._api_calls.pop(name, None)
            self._rebuild()
        return scenario, created

    def delete(self, name: str) -> None:
        if name not in self._runtime:
            if name in self._fixtures:
                source = self._fixtures[name][1]  # fixture:<file> (shipped) or file:<file> (yours)
                raise Conflict(f"scenario {name!r} comes from a scenario file ({source}) and cannot be deleted")
            raise ScenarioNotFound(name, self.names())
        del self._runtime[name]
        self._api_calls.pop(name, None)  # a file of that name comes back with its own `times`, fresh
        if self.active_name == name and name not in self._fixtures:
            self.active_name = DEFAULT_NAME
        self._rebuild()

    def count_api_call(self, scenario: Scenario, operation: str) -> bool:
        """True when this call should misbehave (the scenario's `api.times` not yet used up)."""
        plan = scenario.api
        if not plan.active or operation not in plan.operations:
            return False
        if plan.times is None:
            return True
        used = self._api_calls.get(scenario.name, 0)
        if used >= plan.times:
            return False
        self._api_calls[scenario.name] = used + 1
        return True

    def reset(self) -> None:
        self._runtime.clear()
        self._api_calls.clear()
        self.active_name = DEFAULT_NAME
        self._rebuild()
