"""Hardening fixes, one test group each: settings checked at start, fault counting, duplicate YAML keys,
match-rule ties, a slow receiver callback, unique trigger ids and `paymock listen` naming a stale timestamp.

Everything runs the real code: real loopback sockets and real `paymock` processes where a network or a
process is involved.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest
import yaml

from paymock.cli.main import build_parser
from paymock.cli.trigger import build_request
from paymock.domain.errors import InvalidScenario
from paymock.domain.scenarios import ScenarioBook, WebhookPlan, load_file, load_paths
from paymock.domain.webhooks import build_headers, verdict, verify_standard
from paymock.resources import fixtures_dir, load_yaml
from paymock.settings import Settings, SettingsError
from paymock.testing.receiver import ReceivedWebhook, WebhookReceiver
from paymock_console.scripts import ScriptError, parse_script

# --- 1. settings: a bad secret or token is refused at start, and never said back ------------------------


@pytest.mark.parametrize(
    ("variable", "value", "credential"),
    [
        ("PAYMENT_WEBHOOK_SECRET", "whsec_not base64!", "not base64!"),  # the part after the prefix
        ("PAYMENT_WEBHOOK_SECRET", "whsec_", ""),
        ("SERVICE_AUTH_TOKEN", "tok€", "tok€"),
        ("SERVICE_AUTH_TOKEN", "a b", "a b"),
    ],
)
def test_a_secret_or_token_that_cannot_work_is_refused_without_echoing_it(variable, value, credential) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({variable: value})
    message = str(info.value)
    assert variable in message
    # a credential in a log line is a leak
    assert not credential or (credential not in message and repr(credential) not in message), message


def test_whsec_secret_that_decodes_is_accepted() -> None:
    settings = Settings.from_env({"PAYMENT_WEBHOOK_SECRET": "whsec_YWJj"})
    assert settings.webhook_secret == "whsec_YWJj" and settings.secret_from_env


def test_auth_token_of_visible_ascii_punctuation_is_accepted() -> None:
    # the characters of base64, base64url and JWTs all pass
    assert Settings.from_env({"SERVICE_AUTH_TOKEN": "abc.DEF-_~+/="}).auth_token == "abc.DEF-_~+/="


@pytest.mark.parametrize("fields", [{"webhook_secret": "whsec_a"}, {"auth_token": "tok€"}])
def test_settings_built_directly_are_checked_too(fields: dict[str, str]) -> None:
    # the pytest plugin and embedders construct Settings without from_env: a secret that cannot sign
    # used to fail every create after storing the payment
    with pytest.raises(SettingsError):
        Settings(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "variable"),
    [({"time_scale": 0}, "PAYMOCK_TIME_SCALE"), ({"webhook_timeout_s": -1}, "PAYMOCK_WEBHOOK_TIMEOUT"),
     ({"max_in_flight": 0}, "PAYMOCK_MAX_IN_FLIGHT")],
)  # fmt: skip
def test_settings_built_directly_keep_their_ranges(fields: dict[str, float], variable: str) -> None:
    # the plugin's --paymock-time-scale=0 made every create a 500 (a division by the scale)
    with pytest.raises(SettingsError, match=variable):
        Settings(**fields)  # type: ignore[arg-type]


# --- 2. faults count attempts actually sent, not simulated network failures ------------------------------


@pytest.mark.parametrize(
    ("fail_attempts", "fault_attempts", "expected"),
    [
        # attempt 1 is a simulated failure that reaches nobody: the one faulty attempt is the first one sent
        (1, 1, [False, True, False, False]),
        (0, None, [True, True, True, True]),
        # no simulated attempt carries a fault; every one sent after them does
        (2, None, [False, False, True, True]),
    ],
)
def test_faults_apply_to_attempts_sent(fail_attempts: int, fault_attempts: int | None, expected: list[bool]) -> None:
    plan = WebhookPlan(fail_attempts=fail_attempts, fault_attempts=fault_attempts, signature="invalid")
    assert [plan.faults_apply(n) for n in range(1, 5)] == expected


# --- 3. a key written twice is an error in files people write ---------------------------------------------


def test_unique_keys_refuses_a_duplicate_top_level_key() -> None:
    with pytest.raises(yaml.YAMLError, match="colour"):
        load_yaml("colour: red\nsize: 1\ncolour: blue\n", unique_keys=True)


def test_unique_keys_refuses_a_duplicate_nested_key() -> None:
    with pytest.raises(yaml.YAMLError, match="inner_key"):
        load_yaml("outer:\n  inner_key: 1\n  other: 2\n  inner_key: 3\n", unique_keys=True)


def test_unique_keys_still_allows_merge_keys_and_overriding_a_merged_key() -> None:
    text = "base: &base\n  x: 1\n  y: 2\nderived:\n  <<: *base\n  y: 3\n"
    assert load_yaml(text, unique_keys=True) == {"base": {"x": 1, "y": 2}, "derived": {"x": 1, "y": 3}}


def test_without_unique_keys_the_last_duplicate_wins_as_before() -> None:
    # the spec and other machine-written YAML keep PyYAML's behaviour
    assert load_yaml("a: 1\na: 2\nb: {c: 1, c: 2}\n") == {"a": 2, "b": {"c": 2}}


def test_scenario_file_with_two_webhook_keys_is_invalid(tmp_path: Path) -> None:
    file = tmp_path / "twice.yaml"
    file.write_text("name: twice\ndescription: d\nwebhook:\n  mode: drop\nwebhook:\n  duplicates: 1\n")
    with pytest.raises(InvalidScenario) as info:
        load_file(file)
    # without the check the second `webhook` silently replaced the first
    assert "twice.yaml" in str(info.value)
    assert "duplicate key 'webhook'" in str(info.value), info.value.errors


def test_console_script_with_a_duplicate_key_is_a_script_error() -> None:
    text = "name: dup\nsteps:\n  - create: {count: 1}\n    expect: {status: PENDING}\n    expect: {status: FAILED}\n"
    with pytest.raises(ScriptError) as info:
        parse_script(text)
    assert "duplicate key 'expect'" in str(info.value), info.value.errors


# --- 4. match-rule ties: run-time scenarios, then your files, then the shipped ones -----------------------

DECLINED_AMOUNT = {"amount": 4002, "tx_id": "t", "user_id": 1, "order_id": 1}


def _user_dir(tmp_path: Path) -> Path:
    # the name sorts after `declined`: the old tie-break by name alone picked the shipped one
    (tmp_path / "team-declined.yaml").write_text(
        "name: team-declined\ndescription: our own decline\nmatch: {amount: 4002}\n"
        "payment: {outcome: fail, failure_reason: TEAM_DECLINED}\n"
    )
    return tmp_path


def test_a_user_file_with_the_same_rule_as_a_shipped_one_takes_over(tmp_path: Path) -> None:
    loaded = load_paths([fixtures_dir(), _user_dir(tmp_path)])
    assert ScenarioBook(loaded).select(None, DECLINED_AMOUNT).name == "team-declined"
    # listings tell yours from the shipped ones
    assert loaded["team-declined"][1] == "file:team-declined.yaml"
    assert loaded["declined"][1] == "fixture:declined.yaml"


def test_a_runtime_scenario_with_the_same_rule_beats_files_and_fixtures(tmp_path: Path) -> None:
    book = ScenarioBook(load_paths([fixtures_dir(), _user_dir(tmp_path)]))
    document = {"name": "zz-qa-declined", "description": "qa", "match": {"amount": 4002}}
    book.put(document, "zz-qa-declined")
    assert book.select(None, DECLINED_AMOUNT).name == "zz-qa-declined"
    book.delete("zz-qa-declined")
    assert book.select(None, DECLINED_AMOUNT).name == "team-declined"  # the ranking is rebuilt


def test_two_user_files_with_the_same_rule_tie_by_name(tmp_path: Path) -> None:
    for name in ("b-rule", "a-rule"):  # written in reverse: load order must not decide
        (tmp_path / f"{name}.yaml").write_text(f"name: {name}\ndescription: {name}\nmatch: {{amount: 777}}\n")
    book = ScenarioBook(load_paths([fixtures_dir(), tmp_path]))
    assert book.select(None, {**DECLINED_AMOUNT, "amount": 777}).name == "a-rule"


def test_deleting_an_override_gives_the_file_scenario_its_own_times_again() -> None:
    book = ScenarioBook(load_paths([fixtures_dir()]))
    override = {"name": "api-unavailable", "description": "502 twice", "api": {"error_status": 502, "times": 2}}
    book.put(override, "api-unavailable")
    scenario = book.get("api-unavailable")[0]
    assert [book.count_api_call(scenario, "create") for _ in range(3)] == [True, True, False]
    book.delete("api-unavailable")
    shipped = book.get("api-unavailable")[0]  # 503, times 2: its count starts at 0, not at the override's 3
    assert [book.count_api_call(shipped, "create") for _ in range(3)] == [True, True, False]


@pytest.mark.parametrize(
    ("payment", "webhook", "errors"),
    [
        ({"outcome": "pending", "auto_complete": True}, {}, ["payment.auto_complete: true contradicts"]),
        ({}, {"fault_attempts": 1}, ["webhook.fault_attempts: only used with"]),
        # one error, not a second about delay_ms as if the outcome had become pending
        ({"outcome": "delayed", "delay_ms": 5, "auto_complete": False}, {}, ["payment.auto_complete: false"]),
    ],
)
def test_keys_that_contradict_or_do_nothing_are_refused(payment, webhook, errors) -> None:
    book = ScenarioBook(load_paths([fixtures_dir()]))
    document = {"name": "odd", "description": "d", "payment": payment, "webhook": webhook}
    with pytest.raises(InvalidScenario) as info:
        book.put(document, "odd", dry_run=True)
    assert len(info.value.errors) == len(errors), info.value.errors
    for got, expected in zip(info.value.errors, errors, strict=True):
        assert got.startswith(expected), got


# --- 5. a slow `respond` callback holds up nothing else ----------------------------------------------------


def test_a_blocked_respond_callback_does_not_hold_up_other_webhooks() -> None:
    entered = threading.Event()
    release = threading.Event()

    def respond(hook: ReceivedWebhook) -> int:
        if hook.path == "/slow":
            entered.set()
            return 200 if release.wait(10) else 504  # bounded: a hang ends as a visible 504
        return 202

    receiver = WebhookReceiver("s", respond=respond)
    answers: dict[str, int] = {}

    def post(path: str) -> None:
        answers[path] = httpx.post(receiver.url(path), content=b"{}", timeout=15).status_code

    slow = threading.Thread(target=post, args=("/slow",), daemon=True)
    fast = threading.Thread(target=post, args=("/fast",), daemon=True)
    try:
        slow.start()
        assert entered.wait(5), "the slow webhook never reached the callback"
        fast.start()
        (hook,) = receiver.wait_for(1, timeout=5, path="/fast")
        fast.join(5)
        # all of this happened while the first callback is still blocked
        assert not release.is_set() and slow.is_alive()
        assert receiver.for_path("/slow") == []
        assert hook.answered == 202 and answers["/fast"] == 202

        release.set()
        slow.join(5)
        assert not slow.is_alive()
        assert answers["/slow"] == 200
        # `received` is in order of arrival, though /fast was answered first: a reorder test reads it
        assert [h.path for h in receiver.wait_for(2, timeout=5)] == ["/slow", "/fast"]
    finally:
        release.set()
        receiver.close()


# --- 6. `paymock trigger`: a new webhook-id per run ------------------------------------------------------


def _trigger_args(*extra: str) -> object:
    return build_parser().parse_args(["trigger", "payment.completed", "http://127.0.0.1:1/hook", *extra])


def _sent(args: object, now: float, nonce: str) -> tuple[str, str]:
    _url, body, headers = build_request(args, now, nonce)  # type: ignore[arg-type]
    return {k.lower(): v for k, v in headers.items()}["webhook-id"], json.loads(body)["tx_id"]


def test_two_triggers_in_the_same_second_are_two_events() -> None:
    now = 1_700_000_000.75
    first_id, first_tx = _sent(_trigger_args(), now, "a1b2c3")
    second_id, second_tx = _sent(_trigger_args(), now, "d4e5f6")
    assert (first_tx, second_tx) == ("trig_1700000000_a1b2c3", "trig_1700000000_d4e5f6")
    assert first_id != second_id  # a receiver deduplicating on webhook-id sees both


def test_an_explicit_tx_id_is_kept_whatever_the_nonce() -> None:
    args = _trigger_args("--tx-id", "tx_given")
    assert _sent(args, 1_700_000_000.0, "a1b2c3") == _sent(args, 1_700_000_000.0, "d4e5f6")
    assert _sent(args, 1_700_000_000.0, "a1b2c3") == ("evt_completed_tx_given", "tx_given")


# --- 7. `paymock listen` names a stale Standard Webhooks timestamp ------------------------------------------

PAYMOCK = [sys.executable, "-m", "paymock.cli"]
LISTEN_SECRET = "hardening-secret-0123"
CHILD_ENV = {k: v for k, v in os.environ.items() if k not in ("PAYMENT_WEBHOOK_SECRET", "SERVICE_AUTH_TOKEN")}
READY_TIMEOUT_S = 60  # a loaded CI runner can take seconds to start a process


def _pump(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))


@pytest.fixture
def listener() -> Iterator[tuple[str, queue.Queue[str]]]:
    """`paymock listen` in text mode on a free port (0: it picks one and says which): its URL and stdout lines."""
    process = subprocess.Popen(
        [*PAYMOCK, "listen", "--port", "0", "--secret", LISTEN_SECRET],
        env=CHILD_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    status: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
    threading.Thread(target=_pump, args=(process.stderr, status), daemon=True).start()
    try:
        try:
            ready = status.get(timeout=READY_TIMEOUT_S)
        except queue.Empty:
            raise AssertionError("paymock listen never said it was ready") from None
        match = re.search(r"http://127\.0\.0\.1:\d+", ready)
        assert match, f"no ready line: {ready!r}"
        yield match.group(0), lines
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _trigger_and_read(url: str, lines: queue.Queue[str], *args: str) -> str:
    done = subprocess.run(
        [*PAYMOCK, "trigger", "payment.completed", url + "/hook", "--secret", *args],
        env=CHILD_ENV,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    try:
        return lines.get(timeout=10)
    except queue.Empty:
        raise AssertionError("paymock listen printed nothing") from None


def test_listen_text_mode_marks_a_stale_timestamp_as_stale(listener: tuple[str, queue.Queue[str]]) -> None:
    url, lines = listener
    assert "sig=ok/ok -> 200" in _trigger_and_read(url, lines, LISTEN_SECRET)
    # signed with the right secret at a time outside the tolerance: not the same as a wrong signature
    assert "sig=ok/stale -> 200" in _trigger_and_read(url, lines, LISTEN_SECRET, "--signature", "stale")
    assert "sig=invalid/invalid -> 200" in _trigger_and_read(url, lines, "not-the-secret")


def test_verdict_words_each_verify_standard_reason() -> None:
    # `paymock listen` prints verdict(); each reason verify_standard gives maps to its one word
    now = time.time()
    for signature, secret, word in (("valid", "s", "ok"), ("stale", "s", "stale"), ("invalid", "s", "invalid")):
        headers = build_headers(secret=secret, event="e", msg_id="m", body=b"{}", now=now, signature=signature)
        assert verdict(verify_standard("s", b"{}", headers, now)) == word, signature
    missing = build_headers(secret="s", event="e", msg_id="m", body=b"{}", now=now, signature="missing")
    assert verdict(verify_standard("s", b"{}", missing, now)) == "missing"
