"""Schemathesis over the provider API (/api/v2): every phase, every check."""

from __future__ import annotations

from contract_tests.support import PROVIDER

schema = PROVIDER


@schema.parametrize()
def test_provider_api(case):
    case.call_and_validate()
