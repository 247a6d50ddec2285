"""Following session records another process changed (shared stores), in the domain: sessions adopted,
changed in place (the same objects), dropped when their record is gone; the global book followed too."""

from __future__ import annotations

import itertools
import re

import pytest

from paymock.domain.errors import Conflict
from paymock.domain.limits import MAX_SESSION_SCENARIOS
from paymock.domain.scenarios.loading import load_paths
from paymock.domain.scenarios.registry import ScenarioBook
from paymock.domain.session_records import check_claims_among, follow, live_count, record_of, session_from
from paymock.domain.sessions import Claims, Session, Sessions
from paymock.resources import fixtures_dir
from tests.unit.test_sessions import FakeClock

PENDING_DOC = {"description": "stays pending", "payment": {"outcome": "pending"}}


@pytest.fixture(scope="module")
def fixtures():
    return load_paths([fixtures_dir()])


def two_processes(fixtures, clock):
    """Two processes' views: `a` changes sessions, `b` follows a's records."""
    ids = (f"ses_{n:022d}" for n in itertools.count())

    def new_book() -> ScenarioBook:
        return ScenarioBook(fixtures, MAX_SESSION_SCENARIOS)

    a = Sessions(clock=clock, new_book=new_book, new_id=ids.__next__)
    b = Sessions(clock=clock, new_book=new_book)
    return a, b, new_book


def test_sessions_made_elsewhere_are_adopted_and_then_changed_in_place(fixtures) -> None:
    clock = FakeClock()
    a, b, new_book = two_processes(fixtures, clock)
    global_b = ScenarioBook(fixtures)
    made = a.create(label="one", claims=Claims(tx_id_prefix="one-"), idle_timeout_s=60)
    assert follow(b, global_b, [record_of(made)], new_book) == []
    followed = b.find(made.session_id)  # type: ignore[arg-type]
    assert followed is not None and followed.label == "one"
    assert b.claimant({"tx_id": "one-1"}) is followed

    # changed on a: claims, scenarios, active scenario, a renewal; b keeps its object
    a.set_claims(made.session_id, Claims(user_ids=(7,)))  # type: ignore[arg-type]
    made.book.put(PENDING_DOC, "mine")
    made.book.set_active("mine")
    clock.t += 30
    made.last_used_at = clock.t
    follow(b, global_b, [record_of(made)], new_book)
    assert b.find(made.session_id) is followed  # type: ignore[arg-type]
    assert followed.book.active_name == "mine" and followed.book.select(None).outcome == "pending"
    assert b.claimant({"tx_id": "one-1"}) is None and b.claimant({"user_id": 7}) is followed
    assert followed.expires_at == clock.t + 60

    # a renewal here newer than the record is kept: expiry only ever moves later
    clock.t += 10
    followed.last_used_at = clock.t
    follow(b, global_b, [record_of(made)], new_book)
    assert followed.last_used_at == clock.t

    # ended on a: its record is gone, b drops it and frees its claims
    assert follow(b, global_b, [], new_book) == [followed]
    assert b.find(made.session_id) is None and b.claimant({"user_id": 7}) is None  # type: ignore[arg-type]


def test_the_global_book_follows_its_record_and_a_global_reset(fixtures) -> None:
    clock = FakeClock()
    _, b, new_book = two_processes(fixtures, clock)
    mine = ScenarioBook(fixtures)
    mine.put(PENDING_DOC, "mine")
    mine.set_active("mine")
    theirs = ScenarioBook(fixtures)
    follow(b, theirs, [record_of(Session(None, mine))], new_book)
    assert theirs.active_name == "mine" and theirs.runtime_documents() == mine.runtime_documents()
    follow(b, theirs, [], new_book)  # a global reset elsewhere forgot the record
    assert theirs.active_name == "default" and theirs.runtime_documents() == {}


def test_a_record_reads_back_as_the_session_it_was(fixtures) -> None:
    clock = FakeClock()
    a, _, new_book = two_processes(fixtures, clock)
    made = a.create(label="x", claims=Claims(order_ids=(1, 2)), idle_timeout_s=5)
    made.book.put(PENDING_DOC, "mine")
    back = session_from(record_of(made), new_book())
    assert (back.session_id, back.label, back.claims, back.idle_timeout_s) == ("ses_" + "0" * 22, "x", made.claims, 5)
    assert (back.created_at, back.last_used_at) == (made.created_at, made.last_used_at)
    assert back.book.runtime_documents() == made.book.runtime_documents()
    assert record_of(Session(None, made.book))["session_id"] is None


def _record(session_id: str | None, claims: dict[str, object] | None, used: float = 1_000.0) -> dict[str, object]:
    return {"session_id": session_id, "label": "theirs", "claims": claims, "idle_timeout_s": 60, "last_used_at": used}


def test_claims_and_the_cap_are_checked_against_the_records_of_every_processs_live_sessions() -> None:
    records = [
        _record(None, None),  # the global book claims nothing
        _record("ses_mine", {"order_ids": [1]}),  # the session whose claims change: its own are no conflict
        _record("ses_idle", {"order_ids": [2]}, used=900.0),  # idle past its expiry: ending, claims nothing
        _record("ses_theirs", {"tx_id_prefix": "ab", "order_ids": [3], "user_ids": [4]}),
    ]
    now = 1_000.0
    check_claims_among(records, Claims.from_dict({"order_ids": [1, 2], "tx_id_prefix": "b"}), "ses_mine", now)
    check_claims_among(records, Claims(), None, now)
    for claims, said in (
        ({"order_ids": [3]}, "order_id 3 is claimed by session ses_theirs ('theirs')"),
        ({"user_ids": [9, 4]}, "user_id 4 is claimed by session ses_theirs ('theirs')"),
        ({"tx_id_prefix": "abc"}, "tx_id_prefix 'abc' overlaps 'ab', claimed by session ses_theirs ('theirs')"),
        ({"tx_id_prefix": "a"}, "tx_id_prefix 'a' overlaps 'ab'"),
    ):
        with pytest.raises(Conflict, match=re.escape(said)):
            check_claims_among(records, Claims.from_dict(claims), None, now)
    # the same records against the cap: the global book and the idle one do not count
    assert live_count(records, now) == 2
