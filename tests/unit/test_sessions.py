"""Sessions in the domain, with an injected clock and id source: expiry and renewal, claims and their
matching order, overlap, caps, and ids that say nothing of each other."""

from __future__ import annotations

import itertools
import re

import pytest

from paymock.domain.errors import BadRequest, Conflict, TooMany
from paymock.domain.limits import MAX_SESSION_CLAIM_IDS, MAX_SESSION_SCENARIOS
from paymock.domain.scenarios.loading import load_paths
from paymock.domain.scenarios.registry import ScenarioBook
from paymock.domain.sessions import Claims, SessionNotFound, Sessions, new_session_id
from paymock.resources import fixtures_dir


class FakeClock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def fixtures():
    return load_paths([fixtures_dir()])


def make(fixtures, clock, **kw) -> Sessions:
    ids = (f"ses_{n:022d}" for n in itertools.count())
    return Sessions(
        clock=clock, new_book=lambda: ScenarioBook(fixtures, MAX_SESSION_SCENARIOS), new_id=ids.__next__, **kw
    )


def test_idle_expiry_and_renewal(fixtures):
    clock = FakeClock()
    sessions = make(fixtures, clock)
    s = sessions.create(idle_timeout_s=10)
    clock.t += 9
    sessions.touch(s)  # a call renews it
    clock.t += 9
    assert sessions.find(s.session_id) is s  # 18 s after creation, 9 s idle
    clock.t += 1
    assert sessions.find(s.session_id) is None
    with pytest.raises(SessionNotFound, match="unknown or expired session"):
        sessions.get(s.session_id)
    assert sessions.take_expired() == [s] and len(sessions) == 0
    assert sessions.take_expired() == []


def test_touch_asks_for_a_store_write_at_most_once_a_second(fixtures):
    clock = FakeClock()
    sessions = make(fixtures, clock)
    s = sessions.create()
    assert not sessions.touch(s)  # just created (and stored)
    clock.t += 0.5
    assert not sessions.touch(s) and s.last_used_at == clock.t
    clock.t += 0.6
    assert sessions.touch(s)


def test_claim_matching_order(fixtures):
    clock = FakeClock()
    sessions = make(fixtures, clock)
    by_prefix = sessions.create(claims=Claims(tx_id_prefix="ab-"))
    by_longer = sessions.create(claims=Claims(tx_id_prefix="zz-long-"))
    by_order = sessions.create(claims=Claims(order_ids=(5,)))
    by_user = sessions.create(claims=Claims(user_ids=(5, 6)))
    assert sessions.claimant({"tx_id": "ab-1", "order_id": 5, "user_id": 6}) is by_prefix  # prefix first
    assert sessions.claimant({"tx_id": "zz-long-1", "order_id": 0, "user_id": 0}) is by_longer
    assert sessions.claimant({"tx_id": "zz-1", "order_id": 5, "user_id": 6}) is by_order  # then order_id
    assert sessions.claimant({"tx_id": "x", "order_id": 1, "user_id": 6}) is by_user  # then user_id
    assert sessions.claimant({"tx_id": "x", "order_id": 1, "user_id": 1}) is None  # the global session's
    assert sessions.claimant({"tx_id": "a", "order_id": 1, "user_id": 1}) is None  # shorter than any prefix
    clock.t += 10_000  # expired sessions claim nothing, even before they are cleaned up
    assert sessions.claimant({"tx_id": "ab-1", "order_id": 5, "user_id": 6}) is None


def test_overlapping_claims_name_the_owner(fixtures):
    sessions = make(fixtures, FakeClock())
    owner = sessions.create(label="team-a", claims=Claims(tx_id_prefix="t1-", order_ids=(1,), user_ids=(2,)))
    for claims in (
        Claims(order_ids=(1,)),
        Claims(user_ids=(3, 2)),
        Claims(tx_id_prefix="t1-9"),
        Claims(tx_id_prefix="t"),
    ):
        with pytest.raises(Conflict) as caught:
            sessions.create(claims=claims)
        assert owner.session_id in caught.value.detail and "team-a" in caught.value.detail
    assert len(sessions) == 1
    other = sessions.create(claims=Claims(tx_id_prefix="t2-"))
    with pytest.raises(Conflict):
        sessions.set_claims(other.session_id, Claims(user_ids=(2,)))
    assert other.claims == Claims(tx_id_prefix="t2-")  # a refused change changes nothing
    sessions.set_claims(owner.session_id, Claims(user_ids=(2,)))  # its own values again: fine
    assert sessions.claimant({"tx_id": "t1-x", "order_id": 0, "user_id": 0}) is None  # the old prefix is free
    sessions.end(owner.session_id)
    assert sessions.create(claims=Claims(user_ids=(2,))).claims.user_ids == (2,)


def test_caps(fixtures):
    sessions = make(fixtures, FakeClock(), max_sessions=3)
    for _ in range(3):
        sessions.create()
    with pytest.raises(TooMany, match="3 live sessions"):
        sessions.create()
    with pytest.raises(BadRequest, match="the most a session claims is 100"):
        Claims.from_dict({"user_ids": list(range(MAX_SESSION_CLAIM_IDS + 1))})
    assert Claims.from_dict({"user_ids": [1, 1, 2]}).user_ids == (1, 2)  # repeats are one claim
    s = next(iter(sessions))
    for n in range(MAX_SESSION_SCENARIOS):
        s.book.put({"description": "x"}, f"s{n}")
    with pytest.raises(Conflict, match="this session already keeps 100 run-time scenarios"):
        s.book.put({"description": "x"}, "one-more")


def test_ids_cannot_be_guessed_from_each_other():
    ids = [new_session_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"ses_[A-Za-z0-9_-]{22}", i) for i in ids)
    # no shared structure between neighbours: consecutive ids share no long common prefix after ses_
    common = [len(_common_prefix(a[4:], b[4:])) for a, b in itertools.pairwise(ids)]
    assert max(common) < 6
    # every position uses the whole alphabet (not a counter or a timestamp in some of them)
    for position in range(4, 24):
        assert len({i[position] for i in ids}) > 40


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def test_the_global_session_never_expires(fixtures):
    from paymock.domain.sessions import Session

    book = ScenarioBook(fixtures)
    assert not Session(None, book).expired(1e12)
