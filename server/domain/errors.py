"""Domain errors. The API layer maps each to a problem+json status; domain code knows no HTTP."""

from __future__ import annotations

from .limits import listed


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
        super().__init__(f"no scenario {name!r}; known scenarios: {listed(known)}")
        self.known = known


class Conflict(DomainError):
    pass


class TooMany(DomainError):
    """A cap on live things (sessions) is reached; nothing was created. Answered 429: it frees up."""


class Forbidden(DomainError):
    """A well-formed request this paymock is configured not to carry out (e.g. a callback host outside
    PAYMOCK_CALLBACK_HOSTS)."""


class UnknownScenario(DomainError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown scenario {name!r}; known scenarios: {listed(known)}")
        self.name = name
        self.known = known


class InvalidScenario(DomainError):
    """A scenario document failed validation; `errors` names each key and what was expected."""

    def __init__(self, source: str, errors: list[str]) -> None:
        super().__init__(f"{source}: " + listed(errors, "; "))
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


class Busy(DomainError):
    """As many of this kind of work as paymock allows at once are running; `retry_after_s` says when to retry."""

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class NeverReached(Conflict):
    """A long-poll for a state the delivery can no longer reach: answered at once, not at the timeout."""

    def __init__(self, delivery_id: str, state: str, wanted: str, attempts: int) -> None:
        super().__init__(
            f"delivery {delivery_id!r} is {state} after {attempts} attempt(s), a final state: it will not become "
            f"{wanted} unless it is sent again (redeliver it)"
        )
        self.state = state
