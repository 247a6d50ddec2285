"""Loading scenarios: YAML files and control-API documents, validated, become `Scenario`s.

Documents are validated against the `Scenario` schema in openapi/control.yaml (one source of truth
for the fixture files and the control API), plus the few cross-key rules a schema cannot say well:
keys that have no effect with the others are dropped, with a warning.
"""

from __future__ import annotations

import logging
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

log = logging.getLogger("paymock")


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
    # Keys that have no effect with the others are dropped and named in the scenario's warnings rather
    # than refused: the schema (the contract) cannot state these cross-key rules in a form tools read
    # well, and a request the contract allows must not be a 400.
    notes: list[str] = []
    payment = dict(document.get("payment", {}))
    webhook = dict(document.get("webhook", {}))
    api = dict(document.get("api", {}))
    outcome = payment.get("outcome", DEFAULT_OUTCOME)
    auto_complete = payment.get("auto_complete")
    if auto_complete is False and outcome in ("complete", "pending"):
        outcome = "pending"
    elif auto_complete is False:
        notes.append(f"payment.auto_complete: false is ignored with outcome {outcome!r} (use outcome: pending)")
    elif auto_complete is True and outcome == "pending":
        notes.append("payment.auto_complete: true is ignored: outcome 'pending' waits to be confirmed")
    if outcome == "delayed" and not payment.get("delay_ms"):
        notes.append("payment.delay_ms: not given (or 0), so outcome 'delayed' completes at once")
    _drop(
        notes,
        payment,
        "payment",
        "delay_ms",
        outcome != "delayed",
        f"only used with outcome 'delayed', not {outcome!r}",
    )
    _drop(
        notes,
        payment,
        "payment",
        "failure_reason",
        outcome != "fail",
        f"only used with outcome 'fail', not {outcome!r}",
    )
    _drop(notes, api, "api", "retry_after_s", "error_status" not in api, "only used together with api.error_status")
    no_count = "error_status" not in api and not api.get("latency_ms")
    _drop(notes, api, "api", "times", no_count, "needs api.error_status or api.latency_ms to count")
    if webhook.get("mode") == "drop" and len(webhook) > 1:
        notes.append(f"webhook: mode 'drop' sends nothing, so {', '.join(sorted(set(webhook) - {'mode'}))} ignored")
        webhook = {"mode": "drop"}
    no_fault = webhook.get("signature", "valid") == "valid" and webhook.get("body", "valid") == "valid"
    _drop(
        notes,
        webhook,
        "webhook",
        "fault_attempts",
        no_fault,
        "only used with a webhook.signature or webhook.body fault",
    )
    no_reorder = not webhook.get("reorder")
    _drop(notes, webhook, "webhook", "reorder_hold_ms", no_reorder, "only used with webhook.reorder: true")
    given = {field: payment[key] for key, field in _PAYMENT_FIELDS.items() if key in payment}
    return Scenario(
        match=document.get("match"),
        name=document["name"],
        description=document["description"].strip(),
        outcome=outcome,
        webhook=WebhookPlan(**_given(WebhookPlan, webhook)),
        api=ApiPlan(**_given(ApiPlan, api)),
        notes=tuple(notes),
        **given,
    )


def _drop(notes: list[str], section: dict[str, Any], name: str, key: str, unused: bool, why: str) -> None:
    """Remove `key` from `section` when it would have no effect, saying so in `notes`."""
    if unused and key in section:
        del section[key]
        notes.append(f"{name}.{key}: ignored, {why}")


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
            for note in scenario.notes:  # loaded all the same, as a PUT of the same document is
                log.warning("scenario file %s: %s", file, note)
            if scenario.name in seen_here:
                raise InvalidScenario(
                    str(file), [f"name: {scenario.name!r} is also defined in {seen_here[scenario.name]}"]
                )
            seen_here[scenario.name] = file
            loaded[scenario.name] = (scenario, f"{kind}:{file.name}")
    if DEFAULT_NAME not in loaded:
        raise InvalidScenario(", ".join(map(str, paths)), [f"name: no scenario named {DEFAULT_NAME!r} was loaded"])
    return loaded
