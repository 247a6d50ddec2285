"""Control API handlers for scenarios (/mock/v1/scenarios, /mock/v1/active-scenario)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from ..domain.scenarios.model import Scenario, scenario_warnings
from .context import ok, provider


def _info(scenario: Scenario, source: str) -> dict[str, Any]:
    return {
        "source": source,
        "active": provider().book.active_name == scenario.name,
        "scenario": scenario.as_document(),
    }


async def list_all() -> tuple[Any, int, dict[str, str]]:
    book = provider().book
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
    scenario, source = provider().book.lookup(name)
    return ok(_info(scenario, source))


async def put(name: str, body: dict[str, Any], dry_run: bool = False) -> tuple[Any, int, dict[str, str]]:
    scenario, created = provider().book.put(body, name, dry_run=dry_run)
    answer = {**_info(scenario, "runtime"), "warnings": scenario_warnings(scenario)}
    return ok(answer, 201 if created and not dry_run else 200)


async def delete(name: str) -> Response:
    provider().book.delete(name)
    # a bare response: Connexion would infer this operation's only media type, problem+json, for a 204
    return Response(status_code=204)


async def get_active() -> tuple[Any, int, dict[str, str]]:
    return ok({"name": provider().book.active_name})


async def set_active(body: dict[str, Any]) -> tuple[Any, int, dict[str, str]]:
    scenario = provider().book.set_active(body["name"])
    return ok({"name": scenario.name})
