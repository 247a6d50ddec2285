"""Sessions: isolated views inside one server (issue 16). No HTTP and no storage here.

A session owns its run-time scenarios, active scenario and API-fault counters (a `ScenarioBook` of
its own over the shared fixtures); payments and deliveries carry its id in the store. Traffic reaches
a session by naming it (X-Mock-Session) or by matching what it *claims* of the request data
(`claims`): a tx_id prefix, order ids, user ids, the keys match rules use.

Claim matching is indexed, never a scan over sessions: order and user ids are dict keys, and
tx_id prefixes are found by looking up the tx_id's own prefixes of the lengths some live prefix
has (at most 64), so a create costs the same with 0 or 256 live sessions (bench/sessions.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Container, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .clock import Clock, iso
from .errors import BadRequest, Conflict, NotFound, TooMany
from .limits import MAX_SESSION_CLAIM_IDS, MAX_SESSIONS
from .scenarios.registry import ScenarioBook

ID_PREFIX = "ses_"
DEFAULT_IDLE_TIMEOUT_S = 900
MAX_IDLE_TIMEOUT_S = 86_400
MAX_LABEL = 100


def new_session_id() -> str:
    """`ses_` + 22 url-safe characters from the OS's CSPRNG (128 bits): one id says nothing of another."""
    return ID_PREFIX + secrets.token_urlsafe(16)


class SessionNotFound(NotFound):
    """Named by X-Mock-Session or the path, and not live (never was, ended, or idle past its expiry)."""

    def __init__(self, session_id: str) -> None:
        super().__init__(
            f"unknown or expired session {session_id[:40]!r}: it was never created, was ended, or sat idle past "
            "its idle_timeout_s; create a new one (POST /mock/v1/sessions)"
        )
        self.session_id = session_id


@dataclass(frozen=True, slots=True)
class Claims:
    """What request data a session takes for itself when a call does not name it."""

    tx_id_prefix: str | None = None
    order_ids: tuple[int, ...] = ()
    user_ids: tuple[int, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Claims:
        data = data or {}
        order_ids = tuple(dict.fromkeys(data.get("order_ids") or ()))  # repeats are one claim
        user_ids = tuple(dict.fromkeys(data.get("user_ids") or ()))
        for key, values in (("order_ids", order_ids), ("user_ids", user_ids)):
            if len(values) > MAX_SESSION_CLAIM_IDS:
                # the contract's maxItems says the same; this is for Python callers
                raise BadRequest(
                    f"claims.{key}: {len(values):,} ids, the most a session claims is {MAX_SESSION_CLAIM_IDS}"
                )
        return cls(data.get("tx_id_prefix") or None, order_ids, user_ids)

    def to_dict(self) -> dict[str, Any]:
        return {"tx_id_prefix": self.tx_id_prefix, "order_ids": list(self.order_ids), "user_ids": list(self.user_ids)}

    def __bool__(self) -> bool:
        return bool(self.tx_id_prefix or self.order_ids or self.user_ids)


@dataclass(slots=True, eq=False)
class Session:
    session_id: str | None  # None: the global session (never expires, never listed)
    book: ScenarioBook
    label: str | None = None
    claims: Claims = field(default_factory=Claims)
    idle_timeout_s: int = DEFAULT_IDLE_TIMEOUT_S
    created_at: float = 0.0
    last_used_at: float = 0.0
    saved_used_at: float = 0.0  # last_used_at as the store has it (renewals are written at most once a second)
    busy: int = 0  # calls in it still running (a long-poll wait, injected latency): it is not idle meanwhile

    @property
    def expires_at(self) -> float:
        return self.last_used_at + self.idle_timeout_s

    def expired(self, now: float) -> bool:
        return self.session_id is not None and not self.busy and now >= self.expires_at

    def describe(self, payments: int, deliveries: int) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "label": self.label,
            "claims": self.claims.to_dict(),
            "idle_timeout_s": self.idle_timeout_s,
            "created_at": iso(self.created_at),
            "last_used_at": iso(self.last_used_at),
            "expires_at": iso(self.expires_at),
            "payments": payments,
            "deliveries": deliveries,
        }

    def owner_text(self) -> str:
        return owner_text(self.session_id, self.label)


def owner_text(session_id: str | None, label: str | None) -> str:
    """A session as a 409 names it: its id, and its label if it has one."""
    return f"session {session_id}" + (f" ({label!r})" if label else "")


def _overlap(a: str, b: str) -> bool:
    return a.startswith(b) or b.startswith(a)


def overlap_message(claims: Claims, theirs: Claims, owner: str) -> str | None:
    """What of `claims` another session (`owner`, claiming `theirs`) claims already, as the 409 says it;
    None if they do not overlap. The same words as Sessions.check_claims."""
    for value in claims.order_ids:
        if value in theirs.order_ids:
            return f"order_id {value} is claimed by {owner}; claims cannot overlap"
    for value in claims.user_ids:
        if value in theirs.user_ids:
            return f"user_id {value} is claimed by {owner}; claims cannot overlap"
    prefix, other = claims.tx_id_prefix, theirs.tx_id_prefix
    if prefix and other and _overlap(prefix, other):
        return f"tx_id_prefix {prefix!r} overlaps {other!r}, claimed by {owner}; one must not be a prefix of the other"
    return None


class Sessions:
    """The live sessions and the claim indexes. Ending a session's data (payments, deliveries, retries)
    is the provider's job: it drops a session once its data is gone (`expired`, `get`, then `drop`)."""

    def __init__(
        self,
        *,
        clock: Clock,
        new_book: Callable[[], ScenarioBook],
        new_id: Callable[[], str] = new_session_id,
        max_sessions: int = MAX_SESSIONS,
    ) -> None:
        self._clock = clock
        self._new_book = new_book
        self._new_id = new_id
        self.max_sessions = max_sessions
        self._live: dict[str, Session] = {}  # creation order: listings are oldest first
        self._by_order: dict[int, Session] = {}
        self._by_user: dict[int, Session] = {}
        self._by_prefix: dict[str, Session] = {}
        self._prefix_lengths: list[int] = []  # distinct lengths of live prefixes, longest first

    def __len__(self) -> int:
        return len(self._live)

    def __iter__(self) -> Iterator[Session]:
        """The live sessions, oldest first (a copy: ending one while iterating is fine)."""
        return iter(list(self._live.values()))

    # lifecycle
    def create(
        self,
        *,
        label: str | None = None,
        claims: Claims | None = None,
        idle_timeout_s: int | None = None,
        among: Container[str] | None = None,
    ) -> Session:
        claims = claims or Claims()
        if label is not None and len(label) > MAX_LABEL:
            raise BadRequest(f"label: {len(label)} characters, at most {MAX_LABEL}")
        timeout = DEFAULT_IDLE_TIMEOUT_S if idle_timeout_s is None else idle_timeout_s
        if not 1 <= timeout <= MAX_IDLE_TIMEOUT_S:
            raise BadRequest(f"idle_timeout_s: {timeout}, expected 1 to {MAX_IDLE_TIMEOUT_S}")
        if among is None:  # else a shared store's sessions were counted (a stale local view may hold more)
            self.check_room(len(self._live))
        self.check_claims(claims, None, among)
        session_id = self._new_id()
        if session_id in self._live:  # only an injected id source can repeat itself
            raise Conflict(f"session id {session_id} is taken")
        now = self._clock.now()
        session = Session(session_id, self._new_book(), label, claims, timeout, now, now, now)
        self.adopt(session)
        return session

    def check_room(self, live: int) -> None:
        """429 when `live` sessions (this process's, or every process's as a shared store has them) fill the cap."""
        if live >= self.max_sessions:
            raise TooMany(
                f"this server already has {live} live sessions, the most it keeps ({self.max_sessions}); "
                "end one (DELETE /mock/v1/sessions/{id}) or wait for idle ones to expire. Nothing was created"
            )

    def adopt(self, session: Session) -> None:
        """Take a session in as live (a new one, or one read back from a durable store)."""
        assert session.session_id is not None
        self._live[session.session_id] = session
        self._index(session)

    def end(self, session_id: str) -> Session:
        session = self.get(session_id)
        self.drop(session)
        return session

    def take_expired(self) -> list[Session]:
        """Remove and return the sessions idle past their expiry."""
        gone = self.expired()
        for session in gone:
            self.drop(session)
        return gone

    def expired(self) -> list[Session]:
        """The sessions idle past their expiry, still held (and refused by `find`) until `drop`."""
        now = self._clock.now()
        return [s for s in self._live.values() if s.expired(now)]

    def drop(self, session: Session) -> None:
        """Stop holding a session (ended or expired) and free its claims."""
        if session.session_id is not None and self._live.pop(session.session_id, None) is not None:
            self._unindex(session)

    def clear(self) -> list[Session]:
        gone = list(self._live.values())
        for session in gone:
            self.drop(session)
        return gone

    # lookups
    def find(self, session_id: str) -> Session | None:
        """The live session with this id; None if unknown or expired (an expired one stays until it is
        dropped, by the provider once its data is gone, but is never answered)."""
        session = self._live.get(session_id)
        if session is None or session.expired(self._clock.now()):
            return None
        return session

    def held(self, session_id: str) -> Session | None:
        """The session with this id while it is held, expired or not (`find` answers live ones only)."""
        return self._live.get(session_id)

    def get(self, session_id: str) -> Session:
        session = self.find(session_id)
        if session is None:
            raise SessionNotFound(session_id)
        return session

    def claimant(self, request: Mapping[str, Any]) -> Session | None:
        """The live session whose claims take this request: tx_id prefix (longest), then order_id, then
        user_id. Dict lookups only: the cost does not grow with the number of sessions."""
        if not self._live:
            return None
        now = self._clock.now()
        tx_id = request.get("tx_id")
        if isinstance(tx_id, str):
            for length in self._prefix_lengths:
                found = self._by_prefix.get(tx_id[:length]) if length <= len(tx_id) else None
                if found is not None and not found.expired(now):
                    return found
        for key, index in (("order_id", self._by_order), ("user_id", self._by_user)):
            found = index.get(request.get(key))  # type: ignore[arg-type]
            if found is not None and not found.expired(now):
                return found
        return None

    def touch(self, session: Session) -> bool:
        """A call in the session renews its idle expiry; True when the store should be told (at most
        once a second per session: a write per call would cost more than the call)."""
        if session.session_id is None:
            return False
        now = self._clock.now()
        session.last_used_at = now
        if now - session.saved_used_at >= 1.0:
            session.saved_used_at = now
            return True
        return False

    # claims
    def check_claims(self, claims: Claims, session_id: str | None, among: Container[str] | None = None) -> None:
        """409 naming the owner when another live session claims an overlapping value. `among`: only the
        sessions with these ids count (shared stores: those the store still has; one ended by another
        process and not yet dropped here holds nothing)."""
        now = self._clock.now()

        def owner(found: Session | None) -> Session | None:
            if found is None or found.session_id == session_id or found.expired(now):
                return None
            if among is not None and found.session_id not in among:
                return None
            return found

        for value in claims.order_ids:
            if (other := owner(self._by_order.get(value))) is not None:
                raise Conflict(f"order_id {value} is claimed by {other.owner_text()}; claims cannot overlap")
        for value in claims.user_ids:
            if (other := owner(self._by_user.get(value))) is not None:
                raise Conflict(f"user_id {value} is claimed by {other.owner_text()}; claims cannot overlap")
        prefix = claims.tx_id_prefix
        if prefix:
            # at most one prefix per session and MAX_SESSIONS sessions: a bounded scan, on claim changes only
            for theirs, found in self._by_prefix.items():
                if _overlap(prefix, theirs) and (other := owner(found)) is not None:
                    raise Conflict(
                        f"tx_id_prefix {prefix!r} overlaps {theirs!r}, claimed by {other.owner_text()}; "
                        "one must not be a prefix of the other"
                    )

    def set_claims(self, session_id: str, claims: Claims, among: Container[str] | None = None) -> Session:
        session = self.get(session_id)
        self.check_claims(claims, session_id, among)
        self._unindex(session)
        session.claims = claims
        self._index(session)
        return session

    def reindex(self, session: Session, claims: Claims) -> None:
        """Take the claims another process set (shared stores) as they are: that process checked them when
        they were set, and checking them here against changes not yet followed could refuse what is true."""
        self._unindex(session)
        session.claims = claims
        self._index(session)

    # internals
    def _index(self, session: Session) -> None:
        claims = session.claims
        for value in claims.order_ids:
            self._by_order[value] = session
        for value in claims.user_ids:
            self._by_user[value] = session
        if claims.tx_id_prefix:
            self._by_prefix[claims.tx_id_prefix] = session
            self._lengths_changed()

    def _unindex(self, session: Session) -> None:
        claims = session.claims
        for index, values in ((self._by_order, claims.order_ids), (self._by_user, claims.user_ids)):
            for value in values:
                if index.get(value) is session:
                    del index[value]
        if claims.tx_id_prefix and self._by_prefix.get(claims.tx_id_prefix) is session:
            del self._by_prefix[claims.tx_id_prefix]
            self._lengths_changed()

    def _lengths_changed(self) -> None:
        self._prefix_lengths = sorted({len(p) for p in self._by_prefix}, reverse=True)
