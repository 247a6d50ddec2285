"""Baseline 2: a minimal Connexion app on paymock's own provider spec, validation as paymock has it
(request + response, strict), payments in a dict, no webhook. What Connexion itself costs.

    uvicorn bench.baselines.connexion_app:app   (the benchmark starts it itself)
"""

from __future__ import annotations

import os
from typing import Any

from connexion import AsyncApp
from connexion.resolver import Resolver
from starlette.responses import JSONResponse

from paymock.resources import load_spec

PAYMENTS: dict[str, dict[str, Any]] = {}
JSON = {"Content-Type": "application/json"}


async def create(body: dict[str, Any]) -> tuple[Any, int, dict[str, str]]:
    tx_id = body["tx_id"]
    PAYMENTS.setdefault(tx_id, body)
    return {"ok": True, "tx_id": tx_id, "status": "PAYMENT_COMPLETED", "payment_id": "pay_" + tx_id}, 200, JSON


async def other(*_args: Any, **_kwargs: Any) -> tuple[Any, int, dict[str, str]]:
    return {"ok": True}, 200, JSON


async def _healthz(_request: Any) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def _resolve(operation_id: str) -> Any:
    return create if operation_id.endswith(".create") else other


spec = load_spec("provider.yaml")
spec.pop("security", None)
app = AsyncApp(__name__)
app.add_api(
    spec,
    resolver=Resolver(function_resolver=_resolve),
    validate_responses=os.environ.get("PAYMOCK_VALIDATE_RESPONSES", "true") != "false",
    strict_validation=True,
)
app.add_url_rule("/healthz", "healthz", _healthz, methods=["GET"])
