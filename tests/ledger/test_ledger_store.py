"""Ledger storage: migrations, idempotency, conflicts, leases, secrets and the audit chain, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import stat
import threading
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, text, update

from gateway.config import HubSettings
from gateway.errors import ConflictError, IllegalTransitionError
from gateway.ledger import Ledger, State, verify_chain
from gateway.ledger.audit import utcnow
from gateway.ledger.db import current_revision, upgrade
from gateway.ledger.models import AuditEntry, AuditHead, Message, Submission, System

pytestmark = pytest.mark.db


def _submit(ledger: Ledger, sha: str = "a" * 64, document_id: str = "000.00.00.H41,2026/11/20,1/UBND"):
    with ledger.transaction() as s:
        sub, created = ledger.find_or_create_submission(
            s, message_type="edoc", document_id=document_id, sender="000.00.00.H41",
            payload_sha256=sha, payload_size=10, system_id="sys-a",
        )
        if created:
            msg = ledger.add_message(
                s, direction="out", message_type="edoc", document_id=document_id, sender="000.00.00.H41",
                recipients=["000.00.00.G22"], route="upstream", destination="upstream",
                payload_sha256=sha, payload_size=10, state=State.QUEUED, submission=sub,
            )
            _MSG[sub.doc_id] = msg.doc_id
        return sub.doc_id, created


_MSG: dict[str, str] = {}


def _msg(doc_id: str) -> str:
    return _MSG[doc_id]


def test_migrations_are_idempotent(ledger: Ledger) -> None:
    from alembic.script import ScriptDirectory

    from gateway.ledger.db import alembic_config

    head = ScriptDirectory.from_config(alembic_config(ledger.engine)).get_current_head()
    assert head is not None and current_revision(ledger.engine) == head
    upgrade(ledger.engine)
    assert current_revision(ledger.engine) == head


def test_same_package_twice_is_one_submission(ledger: Ledger) -> None:
    first, created1 = _submit(ledger)
    second, created2 = _submit(ledger)
    assert (created1, created2) == (True, False)
    assert first == second
    with ledger.reader() as s:
        assert s.execute(select(Submission)).scalars().all().__len__() == 1
        assert len(s.execute(select(Message)).scalars().all()) == 1


def test_different_payload_under_same_document_id_is_a_conflict(ledger: Ledger) -> None:
    _submit(ledger, sha="a" * 64)
    with pytest.raises(ConflictError, match="already received with different content"):
        _submit(ledger, sha="b" * 64)
    with ledger.reader() as s:
        assert s.execute(select(Submission.payload_sha256)).scalars().all() == ["a" * 64]


def test_concurrent_identical_submissions_make_one(ledger: Ledger) -> None:
    results: list[tuple[str, bool]] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(_submit(ledger, document_id="000.00.00.H41,2026/11/20,99/UBND"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({doc for doc, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert verify_chain_ok(ledger)


def verify_chain_ok(ledger: Ledger) -> bool:
    with ledger.reader() as s:
        report = verify_chain(s)
    assert report.ok, report.problems
    return True


def test_transitions_are_checked_and_audited(ledger: Ledger) -> None:
    doc_id = _msg(_submit(ledger)[0])
    with ledger.transaction() as s:
        msg = ledger.get_message(s, doc_id)
        with pytest.raises(IllegalTransitionError):
            ledger.transition(s, msg, State.ACKNOWLEDGED)
        ledger.transition(s, msg, State.SENT, reason="test")
    with ledger.reader() as s:
        events = s.execute(select(AuditEntry.event, AuditEntry.detail).order_by(AuditEntry.seq)).all()
    assert [e for e, _ in events] == ["message.created", "message.state"]
    assert '"to":"SENT"' in events[1][1]


def test_claim_due_leases_each_message_once(ledger: Ledger) -> None:
    for i in range(5):
        _submit(ledger, document_id=f"000.00.00.H41,2026/11/20,{i}/UBND", sha=f"{i:064d}")
    claimed: list[list[int]] = []

    def claim() -> None:
        claimed.append(ledger.claim_due(limit=5))

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [m for batch in claimed for m in batch]
    assert len(flat) == 5 and len(set(flat)) == 5


def test_attempt_outcomes_drive_the_state(ledger: Ledger) -> None:
    doc_id = _msg(_submit(ledger)[0])
    with ledger.reader() as s:
        mid = ledger.get_message(s, doc_id).id
    now = utcnow()
    m = ledger.record_attempt(mid, outcome="unknown", started_at=now, reason="timeout", error="read timed out",
                              remote_doc_id=None, next_attempt_at=now + timedelta(seconds=5))
    assert m.state == "FAILED" and m.attempts == 1
    m = ledger.record_attempt(mid, outcome="delivered", started_at=now, reason=None, error=None,
                              remote_doc_id="remote-1", next_attempt_at=None)
    assert (m.state, m.attempts, m.remote_doc_id) == ("SENT", 2, "remote-1")
    assert verify_chain_ok(ledger)


def test_operator_requeue_needs_a_reason_and_a_dead_message(ledger: Ledger) -> None:
    doc_id = _msg(_submit(ledger)[0])
    with ledger.reader() as s:
        mid = ledger.get_message(s, doc_id).id
    ledger.record_attempt(mid, outcome="refused", started_at=utcnow(), reason="refused", error="FAIL",
                          remote_doc_id=None, next_attempt_at=None)
    with pytest.raises(Exception, match="reason is required"):
        ledger.requeue(doc_id, reason=" ", actor="op")
    msg = ledger.requeue(doc_id, reason="recipient fixed its registration", actor="op")
    assert msg.state == "QUEUED"
    with ledger.reader() as s:
        details = s.execute(select(AuditEntry.detail).where(AuditEntry.event == "message.state")).scalars().all()
    assert any("recipient fixed its registration" in d for d in details)


def test_secrets_are_encrypted_at_rest(ledger: Ledger, hub_settings: HubSettings) -> None:
    ledger.add_system("sys-a", "s3cr3t-value-xyz", ["000.00.00.H41"], name="Nghe An")
    with ledger.reader() as s:
        row = s.get(System, "sys-a")
        assert row is not None and "s3cr3t" not in row.secret_ciphertext
    secret, info = ledger.system_credentials("sys-a")
    assert secret == "s3cr3t-value-xyz" and info is not None and info.may_send_as("000.00.00.H41")
    assert stat.S_IMODE(os.stat(hub_settings.key_file).st_mode) == 0o600
    ledger.rotate_secret("sys-a", "n3w")
    assert ledger.system_credentials("sys-a")[0] == "n3w"
    with ledger.reader() as s:
        assert all("s3cr3t" not in d for d in s.execute(select(AuditEntry.detail)).scalars())


def _chain(ledger: Ledger, n: int = 6) -> None:
    for i in range(n):
        _submit(ledger, document_id=f"000.00.00.H41,2026/11/20,{i}/UBND", sha=f"{i:064d}")


def test_audit_chain_detects_an_edit(ledger: Ledger) -> None:
    _chain(ledger)
    assert verify_chain_ok(ledger)
    with ledger.engine.begin() as conn:
        conn.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(detail='{"tampered":true}'))
    with ledger.reader() as s:
        report = verify_chain(s)
    assert not report.ok and any("entry 3" in p and "edited" in p for p in report.problems)


def test_audit_chain_detects_a_deletion_in_the_middle(ledger: Ledger) -> None:
    _chain(ledger)
    with ledger.engine.begin() as conn:
        conn.execute(delete(AuditEntry).where(AuditEntry.seq == 2))
    with ledger.reader() as s:
        report = verify_chain(s)
    assert any("2..2 are missing" in p for p in report.problems)


def test_audit_chain_detects_a_truncated_tail(ledger: Ledger) -> None:
    _chain(ledger)
    with ledger.reader() as s:
        last = s.execute(select(AuditHead.seq)).scalar_one()
    with ledger.engine.begin() as conn:
        conn.execute(delete(AuditEntry).where(AuditEntry.seq == last))
    with ledger.reader() as s:
        report = verify_chain(s)
    assert any("head records entry" in p for p in report.problems)


def test_audit_chain_detects_a_rewritten_link(ledger: Ledger) -> None:
    _chain(ledger, 3)
    with ledger.engine.begin() as conn:
        conn.execute(text("UPDATE audit_entries SET prev_hash = :h WHERE seq = 2"), {"h": "f" * 64})
    with ledger.reader() as s:
        assert any("link to the previous entry is broken" in p for p in verify_chain(s).problems)
