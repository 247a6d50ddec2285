"""A throwaway PostgreSQL cluster for tests and bench scripts: `PostgresCluster` starts one from the
installed server binaries on a free loopback port, hands out fresh databases, and removes it at the end.

Why not pytest-postgresql: its process fixture runs `pg_ctl initdb`/`start` as the current user in a
data directory under pytest's basetemp. CI runs as root, initdb refuses root, and pytest's basetemp is
root's own 0700 directory, so an unprivileged `pg_ctl` could not even reach it; making it fit meant a
generated wrapper script plus loosening pytest's directories. These ~150 lines do the few things needed.

- Binaries: `pg_ctl` on PATH (put another version's bin directory first to choose it), else the newest
  /usr/lib/postgresql/*/bin (Debian keeps them off PATH). None found: `find_bin_dir()` is None and the
  caller skips, saying why.
- Root: initdb and pg_ctl refuse it, so they run as the `postgres` user (`runuser -u postgres`) in a
  directory handed to that user; as anyone else they run as is.
- Speed over durability (it is thrown away): initdb --no-sync, fsync/full_page_writes off. Start to
  first connection is ~0.6 s on these machines, most of it initdb. `durable=True` keeps PostgreSQL's
  defaults (fsync, full page writes, synchronous commit) for benchmarks, which must pay what a real
  deployment pays.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

PG_USER = "postgres"  # the cluster's superuser, and the OS user the server runs as under root
START_TIMEOUT_S = 30


def find_bin_dir() -> Path | None:
    """Where initdb, pg_ctl and postgres are, or None."""
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")]
    # newest major version first: 16 after 15, not "16" < "9" as strings would sort
    found.sort(key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)
    return found[0] if found else None


def why_unavailable() -> str | None:
    """Why no cluster can be started here (one line), or None if one can."""
    if find_bin_dir() is None:
        return "no PostgreSQL server binaries (pg_ctl) on PATH or in /usr/lib/postgresql/*/bin"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root, and no runuser to start PostgreSQL as an unprivileged user"
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            return f"running as root, and no {PG_USER!r} user to start PostgreSQL as"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresCluster:
    """One initdb'd cluster in a temporary directory, listening on 127.0.0.1 only (no socket elsewhere)."""

    def __init__(self, bin_dir: Path | None = None, *, durable: bool = False) -> None:
        found = bin_dir or find_bin_dir()
        if found is None:
            raise RuntimeError(why_unavailable() or "no PostgreSQL binaries")
        self.bin_dir = found
        self.durable = durable
        self.port = 0
        self.host = "127.0.0.1"
        self._as_user = os.geteuid() == 0
        self.base = Path(tempfile.mkdtemp(prefix="paymock-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self._databases = 0
        if self._as_user:  # initdb creates data/ inside it as that user
            user = pwd.getpwnam(PG_USER)
            os.chown(self.base, user.pw_uid, user.pw_gid)
        initdb = ("-D", str(self.data), "-A", "trust", "-U", PG_USER, "-E", "UTF8")
        self._run("initdb", *initdb, *(() if durable else ("--no-sync",)))

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if self._as_user:
            command = ["runuser", "-u", PG_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT_S + 10, check=False)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr.strip()[-2000:]}\n{log}")

    def start(self) -> PostgresCluster:
        """Start (or start again, on the port it had) and wait until it accepts connections."""
        self.port = self.port or _free_port()
        options = f"-p {self.port} -k {self.base} -c listen_addresses={self.host}"
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        wait = ("-w", "-t", str(START_TIMEOUT_S))
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), *wait, "start")
        return self

    def stop(self) -> None:
        """Stop the server (the data stays: `start()` brings it back on the same port)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def postmaster_pid(self) -> int:
        """The server's main process (the first line of postmaster.pid), e.g. to measure its CPU."""
        return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])

    def url(self, dbname: str = "postgres", password: str | None = None) -> str:
        auth = PG_USER if password is None else f"{PG_USER}:{password}"
        return f"postgresql://{auth}@{self.host}:{self.port}/{dbname}"

    def create_database(self, prefix: str = "test") -> str:
        """A new empty database; its URL."""
        import psycopg

        self._databases += 1
        name = f"{prefix}_{self._databases}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by create_database, closing whatever still holds it."""
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def remove(self) -> None:
        """Stop it if running, and delete its directory."""
        with contextlib.suppress(RuntimeError):
            self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.remove()
