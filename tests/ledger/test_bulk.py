"""Bulk row writes (gateway.ledger.bulk): ids in order, and the same errors a plain INSERT raises.

On PostgreSQL a batch of at least COPY_MIN_ROWS rows goes through COPY; its driver errors must
still arrive as SQLAlchemy's IntegrityError (the intake's race replay) and DataError (the
one-by-one retry's 422), wrapped by Ledger.connection like any other statement.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError

from gateway.errors import LedgerError
from gateway.ledger import Ledger
from gateway.ledger.bulk import COPY_MIN_ROWS, insert_rows, table_of
from gateway.ledger.models import Submission

pytestmark = pytest.mark.db

WHEN = datetime(2026, 11, 20, 10, 0, 0, 123456)


def row(n: int, **over: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "doc_id": f"doc-{n}",
        "idem_key": f"{n:064x}",
        "message_type": "edoc",
        "document_id": f"000.00.00.H41,2026/11/20,{n}/UBND\twith tab\nand newline \\ backslash",
        "sender": "000.00.00.H41",
        "status_code": None,
        "payload_sha256": f"{n:064x}",
        "payload_size": 100 + n,
        "system_id": "sys-a",
        "received_at": WHEN,
    }
    values.update(over)
    return values


@pytest.mark.parametrize("count", [1, COPY_MIN_ROWS - 1, COPY_MIN_ROWS, 3 * COPY_MIN_ROWS])
def test_rows_are_stored_exactly_and_ids_come_back_in_order(ledger: Ledger, count: int) -> None:
    rows = [row(i) for i in range(count)]
    with ledger.connection() as conn:
        ids = insert_rows(conn, table_of(Submission), rows)
    assert len(ids) == count and ids == sorted(ids) and len(set(ids)) == count
    with ledger.reader() as s:
        stored = {sub.id: sub for sub in s.execute(select(Submission)).scalars()}
    assert set(stored) == set(ids)
    for new_id, wanted in zip(ids, (row(i) for i in range(count)), strict=True):
        sub = stored[new_id]
        for column, value in wanted.items():
            assert getattr(sub, column) == value, (column, getattr(sub, column), value)


@pytest.mark.parametrize("count", [2, 2 * COPY_MIN_ROWS])
def test_a_duplicate_key_is_an_integrity_error_and_nothing_is_kept(ledger: Ledger, count: int) -> None:
    rows = [row(i) for i in range(count)]
    rows[-1]["idem_key"] = rows[0]["idem_key"]
    with pytest.raises(LedgerError) as info, ledger.connection() as conn:
        insert_rows(conn, table_of(Submission), rows)
    assert isinstance(info.value.__cause__, IntegrityError)
    with ledger.reader() as s:
        assert s.execute(select(Submission)).first() is None


@pytest.mark.parametrize("count", [2, 2 * COPY_MIN_ROWS])
def test_a_value_the_column_cannot_hold_fails_the_whole_statement(ledger: Ledger, count: int) -> None:
    rows = [row(i) for i in range(count)]
    rows[count // 2]["payload_size"] = 2**70  # no BIGINT holds it, on either database
    # PostgreSQL: a DataError (LedgerError); SQLite's driver raises OverflowError before SQL runs
    with pytest.raises((LedgerError, OverflowError)), ledger.connection() as conn:
        insert_rows(conn, table_of(Submission), rows)
    if ledger.engine.dialect.name == "postgresql":
        rows[count // 2] = row(count // 2, document_id="D" * 600)  # VARCHAR(512): PostgreSQL enforces it
        with pytest.raises(LedgerError) as info, ledger.connection() as conn:
            insert_rows(conn, table_of(Submission), rows)
        assert isinstance(info.value.__cause__, DataError)
    with ledger.reader() as s:
        assert s.execute(select(Submission)).first() is None
