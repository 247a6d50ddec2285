"""Bearer auth for both specs; only wired in when SERVICE_AUTH_TOKEN is set."""

from __future__ import annotations

import hmac
from typing import Any


def bearer_info(token: str, request: Any = None) -> dict[str, str] | None:
    expected = request.state.provider.auth_token if request is not None else None
    if expected and hmac.compare_digest(token.encode("utf-8"), expected.encode("utf-8")):
        return {"sub": "paymock-client"}
    return None
