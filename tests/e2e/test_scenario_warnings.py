"""A scenario whose fail_attempts use up its whole retry schedule is saved with a warning, and the
warning tells the truth: nothing reaches the receiver and the delivery ends failed."""

from __future__ import annotations

from tests.e2e.helpers import create_ok, real_attempts, wait_delivery

SHORT = [1000, 2000]  # 3 attempts


def _put(live, name: str, fail_attempts: int, dry_run: bool = False):
    doc = {
        "description": f"fail {fail_attempts}",
        "webhook": {"fail_attempts": fail_attempts, "retry_schedule_ms": SHORT},
    }
    r = live.put(f"/mock/v1/scenarios/{name}", params={"dry_run": "true"} if dry_run else None, json=doc)
    assert r.status_code in (200, 201), r.text
    return r.json()


def test_the_warning_says_what_happens(live, receiver):
    dry = _put(live, "never-delivered", 3, dry_run=True)
    assert dry["warnings"] == [
        "webhook.fail_attempts 3 >= the 3 attempts of the retry schedule: "
        "no scheduled attempt is sent, so every delivery ends failed"
    ]
    assert _put(live, "never-delivered", 3)["warnings"] == dry["warnings"]
    assert create_ok(live, "tx_never", receiver.url(), "never-delivered")["status"] == "PENDING"
    d = wait_delivery(live, tx_id="tx_never", state="settled")
    assert d["state"] == "failed" and len(d["attempts"]) == 3 and not real_attempts(d)
    assert receiver.received == []


def test_one_attempt_left_gets_no_warning_and_is_delivered(live, receiver):
    assert _put(live, "last-chance", 2)["warnings"] == []
    create_ok(live, "tx_last", receiver.url(), "last-chance")
    d = wait_delivery(live, tx_id="tx_last", state="settled")
    assert d["state"] == "acknowledged" and len(real_attempts(d)) == 1
    assert len(receiver.wait_for(1)) == 1
