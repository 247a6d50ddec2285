"""Baseline 1: bare Starlette, the same create route, payments in a dict, no validation, no webhook.

uvicorn bench.baselines.starlette_app:app   (the benchmark starts it itself)
"""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

PAYMENTS: dict[str, dict[str, Any]] = {}


async def create(request: Request) -> JSONResponse:
    body = json.loads(await request.body())
    tx_id = body["tx_id"]
    PAYMENTS.setdefault(tx_id, body)
    return JSONResponse({"ok": True, "tx_id": tx_id, "status": "PAYMENT_COMPLETED", "payment_id": "pay_" + tx_id})


async def healthz(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route("/api/v2/payments", create, methods=["POST"]), Route("/healthz", healthz)])
