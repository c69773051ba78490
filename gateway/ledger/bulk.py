"""Bulk row writes for the group commit (:mod:`gateway.ledger.intake`): as few round trips as the
database allows, with SQLAlchemy's error translation kept.

PostgreSQL: ids are drawn from the table's sequence in one statement, then every row of the table
goes in one ``COPY ... FROM STDIN`` (psycopg formats the rows in C) once there are
:data:`COPY_MIN_ROWS` of them. The previous
``executemany`` pipelined one prepared ``INSERT`` per row; its per-row protocol work was most of
the CPU of a batch. COPY is all-or-nothing like the statement it replaces: a value its column
cannot hold fails the whole transaction, and the caller's one-by-one retry isolates the package.
Driver errors are re-raised as the SQLAlchemy exceptions a plain ``execute`` would raise
(``IntegrityError`` for a unique-key race, ``DataError`` for a too-long value), so
:meth:`gateway.ledger.store.Ledger.connection` and the intake's retries see exactly what they saw
before.

SQLite: one multi-row ``INSERT ... RETURNING`` (in-process, nothing to save on round trips).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, text
from sqlalchemy.exc import DBAPIError

COPY_MIN_ROWS = 8
"""Fewer rows than this go in one pipelined ``executemany`` instead: COPY costs an extra round trip,
which a batch of one package (an idle hub, the 1-client latency) would feel."""


def _pg_ids(conn: Connection, table: Table, count: int) -> list[int]:
    sequence = f"pg_get_serial_sequence('{table.name}', 'id')"  # our own table name, not input
    return sorted(
        int(i)
        for i in conn.execute(
            text(f"SELECT nextval({sequence}) FROM generate_series(1, :n)"),  # noqa: S608
            {"n": count},
        ).scalars()
    )


def copy_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """PostgreSQL: write ``rows`` (dicts with the same keys) into ``table`` with one COPY."""
    if not rows:
        return
    columns = list(rows[0])
    statement = "COPY {} ({}) FROM STDIN".format(
        conn.dialect.identifier_preparer.format_table(table),
        ", ".join(conn.dialect.identifier_preparer.quote(c) for c in columns),
    )
    dbapi = conn.connection.driver_connection
    assert dbapi is not None
    import psycopg

    try:
        with dbapi.cursor() as cur, cur.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])
    except psycopg.Error as exc:
        raise DBAPIError.instance(statement, None, exc, psycopg.Error) from exc


def insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]], *, returning_ids: bool = True) -> list[int]:
    """Insert ``rows`` and return their ids in order (``[]`` with ``returning_ids=False``).

    The dicts get their ``id`` filled in on PostgreSQL (drawn from the sequence first).
    """
    if not rows:
        return []
    if conn.dialect.name == "postgresql":
        ids: list[int] = []
        if returning_ids:
            ids = _pg_ids(conn, table, len(rows))
            for row, new_id in zip(rows, ids, strict=True):
                row["id"] = new_id
        if len(rows) >= COPY_MIN_ROWS:
            copy_rows(conn, table, rows)
        else:
            conn.execute(insert(table), rows)
        return ids
    if not returning_ids:
        conn.execute(insert(table), rows)
        return []
    returning = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return [int(i) for i in conn.execute(returning, rows).scalars().all()]


def table_of(model: Any) -> Table:
    return cast(Table, model.__table__)


__all__ = ["copy_rows", "insert_rows", "table_of"]
