"""PUT /mock/v1/scenarios/{name}: the path names the scenario (`name` in the body is optional and must
agree), and the answer carries `warnings` for settings that are valid but defeat themselves."""

from __future__ import annotations

import pytest

NEVER = (
    "webhook.fail_attempts 9 >= the 8 attempts of the retry schedule: "
    "no scheduled attempt is sent, so every delivery ends failed"
)


def test_put_without_name_takes_the_paths(client):
    r = client.put("/mock/v1/scenarios/qa-noname", json={"description": "no name in the body"})
    assert r.status_code == 201, r.text
    assert r.json()["scenario"]["name"] == "qa-noname"
    stored = client.get("/mock/v1/scenarios/qa-noname").json()
    assert stored["scenario"]["name"] == "qa-noname" and stored["source"] == "runtime"
    again = client.put("/mock/v1/scenarios/qa-noname", json={"description": "replaced"})
    assert again.status_code == 200 and again.json()["scenario"]["description"] == "replaced"


def test_put_dry_run_without_name_validates_and_saves_nothing(client):
    r = client.put("/mock/v1/scenarios/qa-dry", params={"dry_run": "true"}, json={"description": "x"})
    assert r.status_code == 200, r.text
    assert r.json()["scenario"]["name"] == "qa-dry"
    assert client.get("/mock/v1/scenarios/qa-dry").status_code == 404


def test_put_name_differing_from_the_path_is_a_409_naming_both(client):
    """A well-formed body for another scenario conflicts with its target (RFC 9110, PUT): nothing stored."""
    r = client.put("/mock/v1/scenarios/qa-path", json={"name": "qa-body", "description": "x"})
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"].startswith("request body: name: 'qa-body' differs from the path's 'qa-path'")
    assert client.get("/mock/v1/scenarios/qa-path").status_code == 404
    assert client.get("/mock/v1/scenarios/qa-body").status_code == 404


def test_a_body_the_schema_refuses_is_a_400_whatever_its_name(client):
    doc = {"name": "qa-body", "description": "x", "payment": {"outcome": "later"}}
    r = client.put("/mock/v1/scenarios/qa-path", json=doc)
    assert r.status_code == 400
    assert r.json()["errors"][0].startswith("payment.outcome: 'later' is not one of")
    assert client.get("/mock/v1/scenarios/qa-path").status_code == 404


def test_put_still_needs_a_description(client):
    r = client.put("/mock/v1/scenarios/qa-nodesc", json={})
    assert r.status_code == 400 and "description" in r.json()["detail"]


@pytest.mark.parametrize("dry_run", [True, False])
def test_fail_attempts_beyond_the_schedule_is_accepted_with_a_warning(client, dry_run):
    doc = {"description": "never delivered", "webhook": {"fail_attempts": 9}}
    params = {"dry_run": "true"} if dry_run else {}
    r = client.put("/mock/v1/scenarios/qa-never", params=params, json=doc)
    assert r.status_code == (200 if dry_run else 201), r.text
    assert r.json()["warnings"] == [NEVER]
    assert (client.get("/mock/v1/scenarios/qa-never").status_code == 200) is not dry_run


def test_fail_attempts_against_a_short_schedule(client):
    doc = {"description": "x", "webhook": {"fail_attempts": 3, "retry_schedule_ms": [1000, 2000]}}
    r = client.put("/mock/v1/scenarios/qa-short", params={"dry_run": "true"}, json=doc)
    assert r.json()["warnings"] == [
        "webhook.fail_attempts 3 >= the 3 attempts of the retry schedule: "
        "no scheduled attempt is sent, so every delivery ends failed"
    ]
    one_left = {"description": "x", "webhook": {"fail_attempts": 2, "retry_schedule_ms": [1000, 2000]}}
    r = client.put("/mock/v1/scenarios/qa-short", params={"dry_run": "true"}, json=one_left)
    assert r.json()["warnings"] == []


def test_answers_without_contradictions_carry_an_empty_warnings_list(client):
    r = client.put("/mock/v1/scenarios/qa-clean", json={"description": "x", "webhook": {"fail_attempts": 7}})
    assert r.status_code == 201 and r.json()["warnings"] == []
    # GET keeps its shape: warnings belong to the answer of a save
    assert "warnings" not in client.get("/mock/v1/scenarios/qa-clean").json()
