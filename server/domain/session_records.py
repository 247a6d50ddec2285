"""Sessions as a store keeps them (records, see store.base.SessionRecord), and following the records
another process changed (shared stores). No storage and no HTTP here.

Following is in place: code holds Session objects across awaits and detects an ended session with
`sessions.find(id) is session`, so a live id keeps its object, and only what the record says changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .errors import Conflict
from .scenarios.model import DEFAULT_NAME
from .scenarios.registry import ScenarioBook
from .sessions import Claims, Session, Sessions, overlap_message, owner_text


def record_of(session: Session) -> dict[str, Any]:
    """What a store keeps of a session; the global session (id None) is its book only."""
    book = session.book
    if session.session_id is None:
        record: dict[str, Any] = {"session_id": None, "label": None, "claims": None, "idle_timeout_s": 0}
        record |= {"created_at": 0.0, "last_used_at": 0.0}
    else:
        record = {
            "session_id": session.session_id,
            "label": session.label,
            "claims": session.claims.to_dict(),
            "idle_timeout_s": session.idle_timeout_s,
            "created_at": session.created_at,
            "last_used_at": session.last_used_at,
        }
    return record | {
        "active_scenario": book.active_name,
        "scenarios": book.runtime_documents(),
        "api_calls": book.api_calls(),
    }


def restore_book(book: ScenarioBook, record: Mapping[str, Any]) -> None:
    """The book as the record has it (in place)."""
    try:
        book.restore(record.get("scenarios") or {}, record.get("active_scenario") or "", record.get("api_calls"))
    except Exception:  # a stored scenario this version no longer takes: the session keeps the rest
        book.reset()


def session_from(record: Mapping[str, Any], book: ScenarioBook) -> Session:
    """A live session from its record (a restart, or one another process made)."""
    restore_book(book, record)
    used = float(record["last_used_at"])
    return Session(
        record["session_id"],
        book,
        record.get("label"),
        Claims.from_dict(record.get("claims")),
        int(record["idle_timeout_s"]),
        float(record["created_at"]),
        used,
        used,
    )


def _same_book(book: ScenarioBook, record: Mapping[str, Any]) -> bool:
    return book.active_name == (record.get("active_scenario") or book.active_name) and book.runtime_documents() == (
        record.get("scenarios") or {}
    )


def follow(
    sessions: Sessions,
    global_book: ScenarioBook,
    records: Iterable[Mapping[str, Any]],
    new_book: Callable[[], ScenarioBook],
) -> list[Session]:
    """Make the live sessions and the global book say what the store's records say: sessions another
    process made are adopted, changed ones are changed in place (a renewal only ever moves expiry
    later: this process's own may be newer than its last write), and those with no record any more
    (ended or reset elsewhere) are dropped. Returns the dropped ones. API-fault counters are not
    followed: a shared store counts them itself."""
    seen: set[str] = set()
    global_record: Mapping[str, Any] | None = None
    for record in records:
        session_id = record["session_id"]
        if session_id is None:
            global_record = record
            continue
        seen.add(session_id)
        session = sessions.held(session_id)
        if session is None:
            sessions.adopt(session_from(record, new_book()))
            continue
        used = float(record["last_used_at"])
        session.last_used_at = max(session.last_used_at, used)
        session.saved_used_at = max(session.saved_used_at, used)
        session.label = record.get("label")
        session.idle_timeout_s = int(record["idle_timeout_s"])
        claims = Claims.from_dict(record.get("claims"))
        if claims != session.claims:
            sessions.reindex(session, claims)
        if not _same_book(session.book, record):
            restore_book(session.book, record)
    if global_record is None:  # never changed, or a global reset elsewhere forgot it
        if global_book.runtime_documents() or global_book.active_name != DEFAULT_NAME:
            global_book.reset()
    elif not _same_book(global_book, global_record):
        restore_book(global_book, global_record)
    gone = [s for s in sessions if s.session_id not in seen]
    for session in gone:
        sessions.drop(session)
    return gone


def _expired(record: Mapping[str, Any], now: float) -> bool:
    return float(record["last_used_at"]) + int(record["idle_timeout_s"]) <= now


def live_count(records: Iterable[Mapping[str, Any]], now: float) -> int:
    """How many sessions the store has (any process's) that are not idle past their expiry: what counts
    against the cap on live sessions (an expired one is being ended, and frees its place)."""
    return sum(1 for r in records if r["session_id"] is not None and not _expired(r, now))


def check_claims_among(
    records: Iterable[Mapping[str, Any]], claims: Claims, session_id: str | None, now: float
) -> None:
    """409 naming the owner when another session the store has (any process's), not idle past its expiry,
    claims a value overlapping `claims` (those of session `session_id`, or of a new one: None)."""
    if not claims:
        return
    for record in records:
        other = record["session_id"]
        if other is None or other == session_id:
            continue
        if _expired(record, now):
            continue  # expired: ending it is under way, and its claims go with it
        text = overlap_message(claims, Claims.from_dict(record.get("claims")), owner_text(other, record.get("label")))
        if text is not None:
            raise Conflict(text)
