"""Media types in any case are JSON to paymock's app (api/content_type.NormalisedContentType)."""

from __future__ import annotations

import json

import pytest

from paymock.api import content_type
from tests.conftest import payment_body


@pytest.mark.parametrize(
    ("sent", "seen"),
    [
        ("APPLICATION/JSON", "application/json"),
        ("Application/Json; charset=UTF-8", "application/json; charset=UTF-8"),  # parameters as sent
        ("  application/json  ", "application/json"),
        ("application/problem+JSON;x=Y", "application/problem+json;x=Y"),
        ("", ""),
    ],
)
def test_media_type_is_normalised(sent, seen):
    # media types are case-insensitive (RFC 9110 8.3.1); Connexion compares them as they come
    assert content_type.normalise(sent) == seen


def test_headers_change_only_where_a_content_type_is_not_normalised():
    plain = [(b"host", b"x"), (b"content-type", b"application/json"), (b"content-length", b"2")]
    assert content_type.normalised_headers(plain) is None
    assert content_type.normalised_headers([(b"host", b"X-Y")]) is None
    sent = [(b"host", b"X"), (b"content-type", b"Application/JSON; charset=UTF-8"), (b"Content-Type", b"TEXT/Plain")]
    assert content_type.normalised_headers(sent) == [
        (b"host", b"X"),
        (b"content-type", b"application/json; charset=UTF-8"),
        (b"Content-Type", b"text/plain"),
    ]
    assert sent[1] == (b"content-type", b"Application/JSON; charset=UTF-8")  # the caller's list is not edited
    assert content_type.normalised_headers([(b"content-type", "é/X".encode("latin-1"))]) == [
        (b"content-type", "é/x".encode("latin-1"))
    ]


@pytest.mark.parametrize("sent", ["APPLICATION/JSON", "Application/Json; charset=utf-8", " application/JSON "])
def test_a_create_in_any_case_is_validated_and_stored(client, receiver, sent):
    data = json.dumps(payment_body("tx_case", receiver.url(), amount=4321)).encode()
    headers = {"Content-Type": sent, "X-Mock-Scenario": "manual-confirm"}
    r = client.post("/api/v2/payments", content=data, headers=headers)
    assert r.status_code == 200, r.text  # was a 500 on Connexion alone: the handler got raw bytes
    assert r.json()["payment_id"] == "pay_tx_case"
    listing = client.get("/api/v2/pending-payments").json()
    assert listing["payments"]["pay_tx_case"]["amount"] == 4321
    # and the body is validated as JSON, not waved through: a wrong type is a 400 naming the field
    bad = json.dumps(payment_body("tx_case_bad", receiver.url(), amount="lots")).encode()
    r = client.post("/api/v2/payments", content=bad, headers={"Content-Type": sent})
    assert r.status_code == 400, r.text
    assert "amount" in r.json()["detail"]


def test_other_media_types_are_still_refused(client):
    for sent in ("text/plain", "TEXT/PLAIN"):
        r = client.post("/api/v2/payments", content=b"{}", headers={"content-type": sent})
        assert r.status_code == 415, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
