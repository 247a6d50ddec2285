"""Challenges end to end: WWW-Authenticate on a 401, Allow on a 405."""

from __future__ import annotations

import httpx

from tests.conftest import assert_problem
from tests.e2e.helpers import AUTH_TOKEN


def test_401_carries_a_bearer_challenge(auth_server):
    with httpx.Client(base_url=auth_server.base_url, timeout=30) as anon:
        missing = anon.get("/api/v2/pending-payments")
        assert_problem(missing, 401)
        assert missing.headers["www-authenticate"] == 'Bearer realm="paymock"'
        wrong = anon.get("/mock/v1/scenarios", headers={"Authorization": "Bearer not-the-token"})
        assert_problem(wrong, 401)
        assert wrong.headers["www-authenticate"] == 'Bearer realm="paymock", error="invalid_token"'
        for malformed in ("Basic dXNlcjpwdw==", "Bearer"):  # not `Bearer <token>` at all
            r = anon.get("/api/v2/pending-payments", headers={"Authorization": malformed})
            assert_problem(r, 401)
            assert r.headers["www-authenticate"] == 'Bearer realm="paymock", error="invalid_request"', malformed
        good = anon.get("/api/v2/pending-payments", headers={"Authorization": f"Bearer {AUTH_TOKEN}"})
        assert good.status_code == 200, good.text
        assert "www-authenticate" not in good.headers


def test_405_names_get_and_head_and_head_works(live):
    r = live.post("/api/v2/pending-payments", json={})
    assert_problem(r, 405)
    assert r.headers["allow"] == "GET, HEAD"
    head = live.head("/api/v2/pending-payments")
    assert head.status_code == 200
    assert head.content == b""
