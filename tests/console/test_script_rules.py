"""QA script checks that need no server: names and tx_id prefixes are matched whole, a key written twice is an
error."""

from __future__ import annotations

from pathlib import Path

import pytest

from paymock_console import scripts

SCRIPT = "name: s\nsteps:\n  - create: {{count: 1, tx_id_prefix: {prefix}}}\n"


@pytest.mark.parametrize(("prefix", "ok"), [('"qa_1"', True), ('"qa\\n"', False), ('"qa 1"', False)])
def test_tx_id_prefix_is_matched_whole(prefix, ok):
    text = SCRIPT.format(prefix=prefix)
    if ok:
        assert scripts.parse_script(text).steps[0].params["tx_id_prefix"] == "qa_1"
    else:
        with pytest.raises(scripts.ScriptError, match="tx_id_prefix"):
            scripts.parse_script(text)


def test_a_file_name_with_a_trailing_line_break_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PAYMOCK_CONSOLE_SCRIPTS", str(tmp_path))  # where the console saves, as a user sets it
    with pytest.raises(scripts.ScriptError, match="file name"):
        scripts.save_script("smoke\n", SCRIPT.format(prefix="qa"))
    assert list(tmp_path.iterdir()) == []
    # the same script under a good name lands there: the check above looked at the right folder
    saved = scripts.save_script("smoke", SCRIPT.format(prefix="qa"))
    assert [p.name for p in tmp_path.iterdir()] == [saved.name]


def test_console_script_with_a_duplicate_key_is_a_script_error() -> None:
    text = "name: dup\nsteps:\n  - create: {count: 1}\n    expect: {status: PENDING}\n    expect: {status: FAILED}\n"
    with pytest.raises(scripts.ScriptError) as info:
        scripts.parse_script(text)
    assert "duplicate key 'expect'" in str(info.value), info.value.errors
