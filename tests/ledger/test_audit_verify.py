"""verify_chain finds every kind of damage an auditor must be told about, and record's defaults hold.

Each test damages a real ledger the way an intruder or a broken restore would (a lost head row, a
head whose hash alone was rewritten, many deleted entries) and checks the exact report.
"""

from __future__ import annotations

import pytest
from sqlalchemy import delete, event, func, select, update

from gateway.ledger import Ledger, verify_chain
from gateway.ledger.audit import append_entries, flush_pending, record
from gateway.ledger.models import AuditEntry, AuditHead

pytestmark = pytest.mark.db


def _entries(ledger: Ledger, n: int) -> int:
    for i in range(n):
        ledger.add_system(f"sys-v{i}", "s", [f"000.00.00.V{i:02d}"])
    with ledger.reader() as s:
        return int(s.execute(select(AuditHead.seq)).scalar_one())


def test_an_entry_recorded_without_an_actor_is_attributed_to_the_hub(ledger: Ledger) -> None:
    with ledger.transaction() as s:
        record(s, "test.event", document_id="D-1", note="x")
    with ledger.reader() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.event == "test.event")).scalar_one()
        assert entry.actor == "hub" and entry.document_id == "D-1" and entry.message_id is None
        assert verify_chain(s).ok


def test_a_lost_head_row_is_reported_as_a_head_at_entry_zero(ledger: Ledger) -> None:
    last = _entries(ledger, 2)
    with ledger.engine.begin() as conn:
        conn.execute(delete(AuditHead))
    with ledger.reader() as s:
        report = verify_chain(s)
    assert report.entries == last and (report.head_seq, report.head_hash) == (0, "0" * 64)
    assert report.problems == [f"the chain ends at entry {last} but the head records entry 0 "
                               "(entries at the end were deleted, or the head was altered)"]


def test_a_head_whose_hash_alone_was_rewritten_is_reported(ledger: Ledger) -> None:
    last = _entries(ledger, 2)
    with ledger.engine.begin() as conn:
        conn.execute(update(AuditHead).values(hash="f" * 64))  # same seq, another hash
    with ledger.reader() as s:
        report = verify_chain(s)
    assert report.problems == [f"the chain ends at entry {last} but the head records entry {last} "
                               "(entries at the end were deleted, or the head was altered)"]


def test_verify_chain_reports_at_most_fifty_problems_by_default(ledger: Ledger) -> None:
    last = _entries(ledger, 1)
    with ledger.engine.begin() as conn:  # 60 altered entries after the real ones: 60+ problems
        conn.execute(update(AuditEntry).values(detail='{"altered":true}'))
    with ledger.transaction() as s:
        for i in range(60):
            record(s, "test.filler", n=i)
    with ledger.engine.begin() as conn:
        conn.execute(update(AuditEntry).where(AuditEntry.seq > last).values(detail='{"altered":true}'))
    with ledger.reader() as s:
        report = verify_chain(s)
    assert len(report.problems) == 50


def test_an_empty_batch_touches_neither_the_head_nor_the_database(ledger: Ledger) -> None:
    last = _entries(ledger, 1)
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with ledger.engine.begin() as conn:
        event.listen(conn, "before_cursor_execute", seen)
        try:
            assert append_entries(conn, []) == 0
        finally:
            event.remove(conn, "before_cursor_execute", seen)
    # no head lock taken (SELECT ... FOR UPDATE) and nothing written: a no-op costs no round trip
    assert statements == []
    with ledger.reader() as s:
        assert s.execute(select(AuditHead.seq)).scalar_one() == last
        assert s.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == last
        assert verify_chain(s).ok
    with ledger.transaction() as s:  # and flush_pending with nothing queued appends nothing either
        assert flush_pending(s) == 0
    with ledger.reader() as s:
        assert s.execute(select(AuditHead.seq)).scalar_one() == last
