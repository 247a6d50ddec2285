"""Schema patterns mean what ECMA-262 says (the specs' dialect), not what Python's `re` would."""

from __future__ import annotations

import re

import pytest

from paymock.domain.patterns import EcmaDraft4Validator, ecma_regex
from paymock.resources import load_spec


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("^[a-z]+$", "abc", True),
        ("^[a-z]+$", "abc\n", False),  # Python's `$` alone would accept this
        ("^[a-z]+$", "ab\nc", False),
        (r"^\$[0-9]+$", "$12", True),  # an escaped `$` stays a literal
        ("^[$]+$", "$$", True),  # so does one in a character class
        ("^[^$]+$", "ab", True),
        ("^[]$]+$", "]$", True),  # a leading `]` is a literal, the class goes on
        ("^a|b$", "xb\n", False),
        (r"\S", " x ", True),  # no anchors: unchanged
        ("^https?://[^\\s/?#]+[^\\s]*$", "http://127.0.0.1:9/x\n", False),
    ],
)
def test_ecma_regex(pattern, value, matches):
    assert bool(ecma_regex(pattern).search(value)) is matches


def test_every_spec_pattern_compiles_and_agrees_with_python_where_no_line_break_is_involved():
    for name in ("provider.yaml", "control.yaml"):
        text = repr(load_spec(name))
        for pattern in re.findall(r"'pattern': '((?:[^'\\]|\\.)*)'", text):
            pattern = pattern.encode().decode("unicode_escape")
            for value in ("abc", "pay_tx_1", "evt_completed_tx_1", "http://127.0.0.1:9/x", "A_B", "12"):
                assert bool(ecma_regex(pattern).search(value)) is bool(re.search(pattern, value)), (pattern, value)


def test_validator_rejects_a_trailing_line_break_python_would_accept():
    schema = {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$"}
    assert EcmaDraft4Validator(schema).is_valid("tx_1")
    assert not EcmaDraft4Validator(schema).is_valid("tx_1\n")
    errors = [e.message for e in EcmaDraft4Validator(schema).iter_errors("tx_1\n")]
    assert errors == ["'tx_1\\n' does not match '^[A-Za-z0-9_.:-]{1,64}$'"]
