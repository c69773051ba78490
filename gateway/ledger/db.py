"""Database engines for the ledger: SQLite (WAL) by default, PostgreSQL by URL, and the migration runner.

Two engines per ledger: a *write* engine and a *read* engine. On SQLite the write engine opens
every transaction with ``BEGIN IMMEDIATE`` so two processes never deadlock while upgrading a read
lock to a write lock (they queue on ``busy_timeout`` instead), and WAL lets readers run beside the
single writer. On PostgreSQL both engines are ordinary pools. Migrations run programmatically with
Alembic (no alembic.ini): :func:`upgrade` is called by ``lienthong db upgrade`` and by
``lienthong serve`` before any worker starts.
"""

from __future__ import annotations

import fcntl
import functools
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from gateway.errors import ConfigurationError, LedgerError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000
DEFAULT_SQLITE_HEAP_LIMIT = 16 * 1024 * 1024  # HubSettings.sqlite_heap_limit_bytes


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(synchronous: str, *, immediate: bool, heap_limit: int) -> Any:
    def on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        if heap_limit:
            # process-wide, not per connection: every pooled connection keeps a page cache of up to
            # cache_size (2 MB) that it never gives back, so a worker's memory grew with the number
            # of connections it had used and with the ledger (session 4's soak). Above the soft
            # limit SQLite recycles cache pages instead of allocating new ones.
            cursor.execute(f"PRAGMA soft_heap_limit={int(heap_limit)}")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return on_connect


def make_engine(
    url: str,
    *,
    synchronous: str = "FULL",
    immediate: bool = True,
    pool_size: int = 5,
    sqlite_heap_limit: int = DEFAULT_SQLITE_HEAP_LIMIT,
) -> Engine:
    """An engine for ``url``; SQLite files get WAL, a busy timeout, (writers) BEGIN IMMEDIATE and
    the process's SQLite soft heap limit (``sqlite_heap_limit`` bytes, 0 for none)."""
    try:
        parsed = make_url(url)
    except SQLAlchemyError as exc:
        raise ConfigurationError(f"invalid database URL (scheme {url.split(':', 1)[0]!r})") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(
            engine, "connect", _sqlite_pragmas(synchronous.upper(), immediate=immediate, heap_limit=sqlite_heap_limit)
        )
        lock_path = (
            Path(f"{parsed.database}.writelock")
            if immediate and parsed.database and parsed.database != ":memory:"
            else None
        )

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            if lock_path is not None:
                _take_write_lock(conn, lock_path)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        if lock_path is not None:
            event.listen(engine, "commit", _drop_write_lock)
            event.listen(engine, "rollback", _drop_write_lock)
            event.listen(engine.pool, "checkin", _drop_on_checkin)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise ConfigurationError(
            f"unsupported database {parsed.get_backend_name()!r}: use sqlite:///path or postgresql+psycopg://..."
        )
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True)


_LOCK_FD = "lienthong.writelock.fd"
_LOCK_HELD = "lienthong.writelock.held"
_held = threading.local()


def _take_write_lock(conn: Any, path: Path) -> None:
    """Queue for the SQLite write lock in the kernel (``flock``) instead of in SQLite's busy handler.

    SQLite's busy handler polls with sleeps of up to 100 ms, so a writer in one process can starve
    behind a busy writer in another (multi-second tails with ``serve --workers 2``). An exclusive
    ``flock`` on ``<db>.writelock`` wakes the next waiter as soon as the holder commits, and the
    kernel drops it if the holder dies. Each pooled connection has its own descriptor, so threads of
    one process queue the same way. ``BEGIN IMMEDIATE`` still guards against writers without it.
    """
    if getattr(_held, "count", 0):
        return  # this thread already writes through another connection: SQLite's own lock decides
    info = conn.connection.info
    fd = info.get(_LOCK_FD)
    if fd is None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        info[_LOCK_FD] = fd
    fcntl.flock(fd, fcntl.LOCK_EX)
    info[_LOCK_HELD] = True
    _held.count = getattr(_held, "count", 0) + 1


def _release(info: dict[Any, Any]) -> None:
    if info.pop(_LOCK_HELD, False):
        fcntl.flock(info[_LOCK_FD], fcntl.LOCK_UN)
        _held.count = max(0, getattr(_held, "count", 1) - 1)


def _drop_write_lock(conn: Any) -> None:
    _release(conn.connection.info)


def _drop_on_checkin(_dbapi_connection: Any, record: Any) -> None:
    """Safety net: a connection going back to the pool never keeps the lock."""
    _release(record.info)


def alembic_config(engine: Engine | None = None) -> Config:
    """Alembic's configuration without an ini file; ``engine`` is what env.py migrates."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


@functools.cache
def head_revision() -> str:
    """The newest migration (read from the scripts once per process)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise LedgerError(f"no ledger migrations found in {MIGRATIONS_DIR} (broken installation)")
    return head


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent; safe to call on every start).

    A database already at the head is left alone after one query: running Alembic's environment
    loads every migration script (most of the cost of opening a ledger, measured in session 7).
    """
    try:
        if revision == "head" and current_revision(engine) == head_revision():
            return
        command.upgrade(alembic_config(engine), revision)
    except SQLAlchemyError as exc:
        raise LedgerError(f"database migration failed: {type(exc).__name__}") from exc


def current_revision(engine: Engine) -> str | None:
    """The schema revision recorded in the database, or ``None`` when it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return MigrationContext.configure(conn).get_current_revision()


__all__ = ["MIGRATIONS_DIR", "current_revision", "head_revision", "is_sqlite", "make_engine", "upgrade"]
