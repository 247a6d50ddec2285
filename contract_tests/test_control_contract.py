"""Schemathesis over the control API (/mock/v1): every phase, every check."""

from __future__ import annotations

from contract_tests.support import CONTROL

schema = CONTROL


@schema.parametrize()
def test_control_api(case):
    case.call_and_validate()
