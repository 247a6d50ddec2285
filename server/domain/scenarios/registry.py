"""The scenarios a running server knows (`ScenarioBook`): loaded ones, run-time ones, the active one,
and which one a request gets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import Conflict, InvalidScenario, ScenarioNotFound, UnknownScenario
from ..limits import MAX_RUNTIME_SCENARIOS
from .loading import parse
from .model import DEFAULT_NAME, Scenario


def _name_mismatch(document: Mapping[str, Any], name: str) -> list[str]:
    """The error for a document whose `name` is not the one it is stored under (absent is fine)."""
    given = document.get("name", name)
    if given == name:
        return []
    return [f"name: {given!r} differs from the path's {name!r}; leave it out or make it the same"]


# run-time scenarios, active name, API-call counters (ScenarioBook.state)
BookState = tuple[dict[str, Scenario], str, dict[str, int]]


class ScenarioBook:
    """The scenarios a server knows: fixtures, run-time ones, the active one and API-call counters."""

    def __init__(self, fixtures: dict[str, tuple[Scenario, str]], max_runtime: int = MAX_RUNTIME_SCENARIOS) -> None:
        self._fixtures = fixtures
        self.max_runtime = max_runtime  # a session's book keeps fewer (MAX_SESSION_SCENARIOS)
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

    def fresh(self, max_runtime: int) -> ScenarioBook:
        """A new book over the same scenario files, with nothing run-time (a session's)."""
        return ScenarioBook(self._fixtures, max_runtime)

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
            # A well-formed body that describes another scenario than the one it is PUT to: the
            # representation conflicts with its target (RFC 9110's 409 for PUT), nothing is stored.
            raise Conflict(f"request body: {mismatch[0]}")
        created = name not in self._runtime and name not in self._fixtures
        if name not in self._runtime and len(self._runtime) >= self.max_runtime:
            # a dry run too: it answers whether the same PUT would be taken
            where = "this server" if self.max_runtime == MAX_RUNTIME_SCENARIOS else "this session"
            raise Conflict(
                f"{where} already keeps {len(self._runtime):,} run-time scenarios, the most it takes "
                f"({self.max_runtime:,}); nothing was stored: replace or delete one, or reset"
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
        if not plan.applies_to(operation):
            return False
        if plan.times is None:
            return True
        used = self._api_calls.get(scenario.name, 0)
        if used >= plan.times:
            return False
        self._api_calls[scenario.name] = used + 1
        return True

    def runtime_documents(self) -> dict[str, dict[str, Any]]:
        """The run-time scenarios as documents (what a durable store keeps of a session's book)."""
        return {name: scenario.as_document() for name, scenario in self._runtime.items()}

    def api_calls(self) -> dict[str, int]:
        """How many calls each scenario's `api.times` has used up (what a durable store keeps of them)."""
        return dict(self._api_calls)

    def restore(
        self, documents: Mapping[str, Mapping[str, Any]], active: str, api_calls: Mapping[str, int] | None = None
    ) -> None:
        """Take back what `runtime_documents`, `active_name` and `api_calls` gave (a restart on a durable store)."""
        self._runtime = {
            name: parse({**doc, "name": name}, f"stored scenario {name!r}") for name, doc in documents.items()
        }
        self.active_name = active if active in self._runtime or active in self._fixtures else DEFAULT_NAME
        known = set(self.names())
        self._api_calls = {name: int(n) for name, n in (api_calls or {}).items() if name in known}
        self._rebuild()

    def state(self) -> BookState:
        """What put, delete and set_active change: `put_back` undoes them if storing the change fails."""
        return dict(self._runtime), self.active_name, dict(self._api_calls)

    def put_back(self, state: BookState) -> None:
        runtime, self.active_name, api_calls = state
        self._runtime, self._api_calls = dict(runtime), dict(api_calls)
        self._rebuild()

    def reset(self) -> None:
        self._runtime.clear()
        self._api_calls.clear()
        self.active_name = DEFAULT_NAME
        self._rebuild()
