"""The PostgreSQL store's schema, as numbered migrations recorded in the database itself.

At start every process runs `migrate`: each migration not yet recorded in `paymock_schema_migrations`
is applied and recorded in one transaction, under a transaction-scoped advisory lock, so two processes
starting at once apply it once (the second waits, then finds it recorded). A database recording a
version this code does not know was written by a newer paymock: refused, as its rows may mean something
this code would misread. Add a migration by appending to MIGRATIONS; never edit one that has shipped.

Conventions of the schema (see postgres.py for why):
- session_id is '' for the global session, never NULL: plain equality keeps the (session_id, ...)
  indexes usable for every listing.
- seq (an identity column) is creation order: listings sort by it.
- Attempts are rows of their own, append-only: two processes recording attempts of one delivery (a
  scheduled retry here, a redeliver there) both keep theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import AsyncConnection


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "payments, deliveries, attempts, sessions, api calls, state version",
        (
            """CREATE TABLE payments (
                seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                payment_id text NOT NULL UNIQUE,
                tx_id text NOT NULL,
                order_id bigint NOT NULL,
                user_id bigint NOT NULL,
                amount bigint NOT NULL,
                callback_url text NOT NULL,
                scenario text NOT NULL,
                created_at double precision NOT NULL,
                status text NOT NULL,
                confirmed_at double precision,
                failure_reason text,
                session_id text NOT NULL
            )""",
            # counts and status listings: an index-only GROUP BY over one session's part
            "CREATE INDEX payments_session_status ON payments (session_id, status, seq)",
            "CREATE INDEX payments_session_scenario ON payments (session_id, scenario, seq)",
            "CREATE INDEX payments_session_seq ON payments (session_id, seq)",
            """CREATE TABLE deliveries (
                seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                delivery_id text NOT NULL UNIQUE,
                tx_id text NOT NULL,
                event text NOT NULL,
                scenario text NOT NULL,
                callback_url text NOT NULL,
                plan text NOT NULL,
                occurred_at double precision NOT NULL,
                created_at double precision NOT NULL,
                state text NOT NULL,
                next_attempt_at double precision,
                started integer NOT NULL,
                reason text,
                session_id text NOT NULL,
                lease_owner text,
                lease_until double precision
            )""",
            "CREATE INDEX deliveries_tx ON deliveries (tx_id, seq)",
            "CREATE INDEX deliveries_session_seq ON deliveries (session_id, seq)",
            # the outbox: only pending rows, by when their lease runs out (claim_due) and by age
            "CREATE INDEX deliveries_due ON deliveries (lease_until) WHERE state = 'pending'",
            "CREATE INDEX deliveries_pending ON deliveries (seq) WHERE state = 'pending'",
            """CREATE TABLE attempts (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                delivery_id text NOT NULL REFERENCES deliveries (delivery_id) ON DELETE CASCADE,
                number integer NOT NULL,
                kind text NOT NULL,
                at double precision NOT NULL,
                status_code integer,
                error text,
                latency_ms double precision NOT NULL,
                simulated boolean NOT NULL,
                signature text NOT NULL,
                body text NOT NULL,
                -- saving a delivery again writes the attempts it holds; the ones stored already are skipped
                UNIQUE (delivery_id, number, kind, at)
            )""",
            """CREATE TABLE sessions (
                seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                session_id text NOT NULL UNIQUE,
                record jsonb NOT NULL
            )""",
            """CREATE TABLE api_calls (
                session_id text NOT NULL,
                scenario text NOT NULL,
                used integer NOT NULL,
                PRIMARY KEY (session_id, scenario)
            )""",
            """CREATE TABLE state_version (
                id integer PRIMARY KEY CHECK (id = 1),
                version bigint NOT NULL
            )""",
            "INSERT INTO state_version (id, version) VALUES (1, 0)",
        ),
    ),
)

LATEST = MIGRATIONS[-1].version
TABLE = "paymock_schema_migrations"
# pg_advisory_xact_lock key: any constant of ours ("pmk" + 1); released when the transaction ends
LOCK_KEY = 0x706D6B01
OUR_TABLES = ("payments", "deliveries", "attempts", "sessions", "api_calls", "state_version")


class SchemaError(Exception):
    """The database cannot be used as this paymock's store; the message says why."""


async def applied_versions(conn: AsyncConnection) -> list[int]:
    cur = await conn.execute(f"SELECT version FROM {TABLE} ORDER BY version")
    return [row[0] for row in await cur.fetchall()]


async def migrate(conn: AsyncConnection, where: str) -> list[int]:
    """Bring the schema up to LATEST; the versions applied now. `where` names the database in errors
    (its URL with the password masked)."""
    done: list[int] = []
    for migration in MIGRATIONS:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            await _check_ours(conn, where)
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} (version integer PRIMARY KEY, name text NOT NULL, "
                "applied_at timestamptz NOT NULL DEFAULT now())"
            )
            applied = await applied_versions(conn)
            unknown = [v for v in applied if v > LATEST]
            if unknown:
                raise SchemaError(
                    f"{where}: the database's paymock schema is at version {max(unknown)}, written by a newer "
                    f"paymock; this one knows versions up to {LATEST}. Upgrade paymock or use another database"
                )
            if migration.version in applied:
                continue
            for statement in migration.statements:
                await conn.execute(statement)
            await conn.execute(
                f"INSERT INTO {TABLE} (version, name) VALUES (%s, %s)", (migration.version, migration.name)
            )
            done.append(migration.version)
    return done


async def _check_ours(conn: AsyncConnection, where: str) -> None:
    """Refuse a database holding tables of our names that paymock did not create (another program's
    `payments`): adopting them would mix its rows with ours."""
    cur = await conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
        "AND table_name = ANY(%s)",
        ([TABLE, *OUR_TABLES],),
    )
    names = {row[0] for row in await cur.fetchall()}
    if names and TABLE not in names:
        shown = ", ".join(sorted(names))
        raise SchemaError(f"{where} holds tables paymock did not create ({shown}); use another database")
