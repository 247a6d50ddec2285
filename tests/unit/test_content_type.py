"""paymock's extract_content_type answers as Connexion's does, and is the one Connexion calls."""

from __future__ import annotations

import pytest
from connexion import utils

from paymock.api import content_type

CASES = [
    [],
    [(b"host", b"x")],
    [(b"content-type", b"application/json")],
    [(b"Content-Type", b"application/json; charset=utf-8")],
    [(b"CONTENT-TYPE", b"text/plain"), (b"content-type", b"application/json")],  # the first one wins
    [(b"content-length", b"2"), (b"content-type", b"\xe9t\xe9/x")],  # latin-1
    [(b"content-type", b"")],
    [("content-type", "application/problem+json")],
    [("Content-Type", b"application/json")],
    {"Content-Type": "application/json"},
    {"content-length": "3"},
    {},
]


@pytest.mark.parametrize("headers", CASES)
def test_same_answer_as_connexion(headers):
    assert content_type.extract_content_type(headers) == content_type.connexion_extract_content_type(headers)


def test_installed_where_connexion_looks_it_up(client):
    # the app built by the `client` fixture installed it
    assert utils.extract_content_type is content_type.extract_content_type
    assert client.post("/api/v2/payments", content=b"{}", headers={"content-type": "text/plain"}).status_code == 415


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
def test_media_type_is_normalised_where_connexion_would_not_match_it(sent, seen):
    # media types are case-insensitive (RFC 9110 8.3.1); Connexion compares them as they come
    headers = [(b"content-type", sent.encode("latin-1"))]
    assert content_type.extract_content_type(headers) == seen
    assert content_type.normalise(sent) == seen
