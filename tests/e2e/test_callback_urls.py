"""Callback URLs no webhook could reach or should carry: refused at create, nothing stored, no credential
said back."""

from __future__ import annotations

import pytest

from tests.conftest import assert_problem
from tests.e2e.helpers import create, nothing_stored


@pytest.mark.parametrize("url", ["http://a..b/", "http://" + "a" * 64 + ".com/", "http://:80/"])
def test_unreachable_callback_url_is_a_400_and_nothing_is_stored(live, url: str):
    problem = assert_problem(create(live, "tx_badurl", url), 400)
    assert "callback_url" in problem["detail"]
    nothing_stored(live)


@pytest.mark.parametrize(
    "url",
    [
        "http://user:s3cretpw@127.0.0.1:9/x",
        "http://user:s3cretpw@127.0.0.1:99999/x",  # a bad port too: its message quotes the URL
        "http://user:s3cretpw@127.0.0.1:0/x",
        "http://user:s3cretpw@[::1/x",  # urlsplit itself refuses this one, quoting it
    ],
)
def test_callback_url_with_credentials_is_a_400_that_does_not_repeat_them(live, url: str):
    r = create(live, "tx_creds", url)
    problem = assert_problem(r, 400)
    assert "credentials" in problem["detail"] or "***@" in problem["detail"]  # refused, or its contract error masked
    assert "s3cretpw" not in r.text
    nothing_stored(live)
