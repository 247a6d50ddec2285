"""Control API handlers for scenarios (/mock/v1/scenarios, /mock/v1/active-scenario), in the session the
call names (X-Mock-Session; the global one without it)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from ..domain.scenarios.model import Scenario, scenario_warnings
from ..domain.scenarios.registry import ScenarioBook
from .context import ok, provider, session


def _info(book: ScenarioBook, scenario: Scenario, source: str) -> dict[str, Any]:
    return {
        "source": source,
        "active": book.active_name == scenario.name,
        "scenario": scenario.as_document(),
    }


async def list_all() -> tuple[Any, int, dict[str, str]]:
    book = (await session()).book
    return ok(
        {
            "active": book.active_name,
            "scenarios": [
                {
                    "name": s.name,
                    "description": s.description,
                    "source": source,
                    "match": dict(s.match) if s.match else None,
                }
                for s, source in book.all()
            ],
        }
    )


async def get_one(name: str) -> tuple[Any, int, dict[str, str]]:
    book = (await session()).book
    scenario, source = book.lookup(name)
    return ok(_info(book, scenario, source))


async def put(name: str, body: dict[str, Any], dry_run: bool = False) -> tuple[Any, int, dict[str, str]]:
    current = await session()
    if dry_run:  # changes nothing: nothing to store
        scenario, created = current.book.put(body, name, dry_run=True)
    else:
        async with provider().changing_book(current, counts_reset=[name]) as book:
            scenario, created = book.put(body, name)
    answer = {**_info(current.book, scenario, "runtime"), "warnings": scenario_warnings(scenario)}
    return ok(answer, 201 if created and not dry_run else 200)


async def delete(name: str) -> Response:
    async with provider().changing_book(await session(), counts_reset=[name]) as book:
        book.delete(name)
    # a bare response: Connexion would infer this operation's only media type, problem+json, for a 204
    return Response(status_code=204)


async def get_active() -> tuple[Any, int, dict[str, str]]:
    return ok({"name": (await session()).book.active_name})


async def set_active(body: dict[str, Any]) -> tuple[Any, int, dict[str, str]]:
    # a scenario made active starts its API faults again (ScenarioBook.set_active)
    async with provider().changing_book(await session(), counts_reset=[body["name"]]) as book:
        scenario = book.set_active(body["name"])
    return ok({"name": scenario.name})
