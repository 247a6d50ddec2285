"""Domain errors. The API layer maps each to a problem+json status; domain code knows no HTTP."""

from __future__ import annotations


class DomainError(Exception):
    """Base class; `detail` is shown to the caller."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    pass


class ScenarioNotFound(NotFound):
    """A scenario addressed as a resource (GET/DELETE /scenarios/{name}) does not exist."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"no scenario {name!r}; known scenarios: {', '.join(known)}")
        self.known = known


class Conflict(DomainError):
    pass


class UnknownScenario(DomainError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown scenario {name!r}; known scenarios: {', '.join(known)}")
        self.name = name
        self.known = known


class InvalidScenario(DomainError):
    """A scenario document failed validation; `errors` names each key and what was expected."""

    def __init__(self, source: str, errors: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(errors))
        self.source = source
        self.errors = errors


class InjectedFailure(DomainError):
    """An error the active scenario answers on purpose instead of processing."""

    def __init__(self, status: int, retry_after_s: int | None, scenario: str) -> None:
        super().__init__(f"scenario {scenario!r} answers {status} on purpose; nothing was processed")
        self.status = status
        self.retry_after_s = retry_after_s
        self.scenario = scenario


class BadRequest(DomainError):
    """The request is well-formed but asks for something contradictory."""


class WaitTimeout(Conflict):
    """A long-poll ended with the delivery in another state than the one asked for (`state`)."""

    def __init__(self, detail: str, state: str) -> None:
        super().__init__(detail)
        self.state = state
