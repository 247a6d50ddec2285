"""Loading scenarios: YAML files and control-API documents, validated, become `Scenario`s.

Documents are validated against the `Scenario` schema in openapi/control.yaml (one source of truth
for the fixture files and the control API), plus the few rules a schema cannot say.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator

from ...resources import fixtures_dir, load_spec, load_yaml
from ..bounded_arrays import with_bounded_arrays
from ..errors import InvalidScenario
from ..patterns import EcmaDraft4Validator, readable
from .model import DEFAULT_NAME, DEFAULT_OUTCOME, ApiPlan, Scenario, WebhookPlan


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
        f"{_key(e.absolute_path)}: {readable(e)}"
        for e in sorted(_validator().iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if errors:
        raise InvalidScenario(source, errors)
    payment = document.get("payment", {})
    webhook = document.get("webhook", {})
    api = document.get("api", {})
    outcome = payment.get("outcome", DEFAULT_OUTCOME)
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
    plan = WebhookPlan(**_given(WebhookPlan, webhook))
    if "fault_attempts" in webhook and plan.signature == "valid" and plan.body == "valid":
        errors.append("webhook.fault_attempts: only used with a webhook.signature or webhook.body fault")
    if "reorder_hold_ms" in webhook and not plan.reorder:
        errors.append("webhook.reorder_hold_ms: only used with webhook.reorder: true")
    if plan.mode == "drop" and len(webhook) > 1:
        errors.append("webhook: mode 'drop' sends nothing, so no other webhook key applies")
    if errors:
        raise InvalidScenario(source, errors)
    given = {field: payment[key] for key, field in _PAYMENT_FIELDS.items() if key in payment}
    return Scenario(
        match=document.get("match"),
        name=document["name"],
        description=document["description"].strip(),
        outcome=outcome,
        webhook=plan,
        api=ApiPlan(**_given(ApiPlan, api)),
        **given,
    )


_PAYMENT_FIELDS = {"failure_reason": "failure_reason", "delay_ms": "payment_delay_ms"}  # document key -> field


def _given(model: type, keys: Mapping[str, Any]) -> dict[str, Any]:
    """The model's fields that the document gives (lists as tuples); the rest keep the model's defaults."""
    names = {f.name for f in fields(model)}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in keys.items() if k in names}


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
