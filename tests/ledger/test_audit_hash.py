"""The audit chain's hash is a documented format, checked against an independent computation.

A chain verified only by the code that wrote it proves nothing about the format: any change to the
hashed fields, their names or the JSON form would still verify. An auditor re-computing the chain
with another tool needs the exact form, so it is pinned here: SHA-256 of
``prev_hash + "\\n" + JSON`` where the JSON has sorted keys, no spaces, UTF-8 (not \\u escapes) and
the fields seq, at (ISO, microseconds), actor, event, message_id, document_id, detail.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import pytest
from sqlalchemy import delete, select

from gateway.ledger import Ledger, verify_chain
from gateway.ledger.audit import GENESIS, canonical_json, entry_hash
from gateway.ledger.models import AuditEntry, AuditHead

pytestmark = pytest.mark.db


def test_entry_hash_is_the_documented_sha256() -> None:
    at = datetime(2026, 11, 20, 9, 15, 30, 123)
    body = ('{"actor":"sys-h41","at":"2026-11-20T09:15:30.000123","detail":"{\\"lý do\\":1}",'
            '"document_id":"000.00.00.H41,2026/11/20,1/UBND","event":"message.state","message_id":7,"seq":3}')
    expected = hashlib.sha256(f"{'a' * 64}\n{body}".encode()).hexdigest()
    got = entry_hash("a" * 64, seq=3, at=at, actor="sys-h41", event="message.state", message_id=7,
                     document_id="000.00.00.H41,2026/11/20,1/UBND", detail='{"lý do":1}')
    assert got == expected


def test_canonical_json_form() -> None:
    assert canonical_json({"b": 1, "a": "Đà Nẵng", "c": [1, None]}) == '{"a":"Đà Nẵng","b":1,"c":[1,null]}'
    assert canonical_json({"when": datetime(2026, 1, 2, 3, 4, 5)}) == '{"when":"2026-01-02 03:04:05"}'


def _entries(ledger: Ledger, n: int) -> None:
    for i in range(n):
        ledger.add_system(f"sys-{i}", "s", [f"000.00.00.H{i:02d}"])


def test_verify_chain_counts_every_entry_and_reports_the_head(ledger: Ledger) -> None:
    _entries(ledger, 5)
    with ledger.reader() as s:
        head = s.execute(select(AuditHead.seq, AuditHead.hash)).one()
        count = len(s.execute(select(AuditEntry.seq)).all())
        report = verify_chain(s)
    assert report.ok and report.entries == count == head.seq and count >= 5
    assert (report.head_seq, report.head_hash) == (head.seq, head.hash) and head.hash != GENESIS


def test_a_truncated_tail_names_where_the_chain_ends(ledger: Ledger) -> None:
    _entries(ledger, 4)
    with ledger.reader() as s:
        last = s.execute(select(AuditHead.seq)).scalar_one()
    with ledger.engine.begin() as conn:
        conn.execute(delete(AuditEntry).where(AuditEntry.seq == last))
    with ledger.reader() as s:
        report = verify_chain(s)
    assert report.problems == [f"the chain ends at entry {last - 1} but the head records entry {last} "
                               "(entries at the end were deleted, or the head was altered)"]


def test_an_empty_ledger_with_a_head_is_a_truncated_chain(ledger: Ledger) -> None:
    _entries(ledger, 1)
    with ledger.engine.begin() as conn:
        conn.execute(delete(AuditEntry))
    with ledger.reader() as s:
        report = verify_chain(s)
    assert report.entries == 0 and len(report.problems) == 1 and "ends at entry 0" in report.problems[0]


def test_verify_chain_stops_at_max_problems(ledger: Ledger) -> None:
    _entries(ledger, 6)
    with ledger.engine.begin() as conn:
        for seq in (2, 4, 6):
            conn.execute(delete(AuditEntry).where(AuditEntry.seq == seq))
    with ledger.reader() as s:
        assert len(verify_chain(s, max_problems=2).problems) == 2
        assert len(verify_chain(s).problems) >= 4
