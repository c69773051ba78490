"""Group-commit intake: batches keep per-submission outcomes, idempotency, conflicts and the audit chain."""

from __future__ import annotations

import json
import threading
from dataclasses import replace

import pytest
from patience import PATIENCE_S
from sqlalchemy import func, select

from gateway.errors import ConflictError
from gateway.ledger import Ledger, State, verify_chain
from gateway.ledger.intake import Accepted, IntakeCommitter, RouteDraft, SubmissionDraft, write_batch
from gateway.ledger.models import AuditEntry, Message, Submission

pytestmark = pytest.mark.db


def draft(n: int, sha: str | None = None, routes: int = 1) -> SubmissionDraft:
    return SubmissionDraft(
        message_type="edoc",
        document_id=f"000.00.00.H41,2026/11/20,{n}/UBND",
        sender="000.00.00.H41",
        payload_sha256=sha or f"{n:064x}",
        payload_size=100,
        system_id="sys-a",
        routes=tuple(RouteDraft("local", f"sys-{r}", (f"000.00.00.G{r:02d}",)) for r in range(routes)),
        outbound_sha256=f"{n + 10**6:064x}",
        outbound_size=120,
        trace_hop='{"organ":"TEST.W00","at":"2026-11-20T10:00:00.000000"}',
        actor="sys-a",
    )


def test_batch_isolates_conflicts_and_dedupes_within_the_batch(ledger: Ledger) -> None:
    first = write_batch(ledger, [draft(1)])
    assert isinstance(first[0], Accepted) and first[0].created
    out = write_batch(ledger, [draft(2, routes=2), draft(1, sha="f" * 64), draft(3), draft(3), draft(1)])
    assert isinstance(out[0], Accepted) and out[0].created
    assert isinstance(out[1], ConflictError)  # same key, other payload: refused, the rest still committed
    assert isinstance(out[2], Accepted) and out[2].created
    assert out[3] == Accepted(out[2].doc_id, False)  # the same package twice in one batch is one submission
    assert out[4] == Accepted(first[0].doc_id, False)
    with ledger.reader() as s:
        assert s.scalar(select(func.count()).select_from(Submission)) == 3
        msgs = s.execute(select(Message).order_by(Message.id)).scalars().all()
        assert [m.state for m in msgs] == [State.QUEUED.value] * 4
        assert {m.destination for m in msgs if m.document_id.endswith(",2/UBND")} == {"sys-0", "sys-1"}
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.event == "message.created")) == 4
        report = verify_chain(s)
    assert report.ok, report.problems


def test_committer_under_concurrency_records_each_submission_once(ledger: Ledger) -> None:
    committer = IntakeCommitter(ledger, max_batch=7)
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for i in range(15):
                n = (k * 15 + i) % 60  # every package is sent twice, by two different threads
                results.setdefault(n, committer.submit(draft(n), timeout=PATIENCE_S).doc_id)
                assert committer.submit(draft(n), timeout=PATIENCE_S).doc_id == results[n]
        except BaseException as exc:
            errors.append(exc)

    # daemon threads: a worker still waiting after its deadline must not keep the test process alive
    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(PATIENCE_S)
    committer.close(timeout=PATIENCE_S)
    assert not errors
    assert not [t for t in threads if t.is_alive()], "a submission was never answered"
    with ledger.reader() as s:
        assert s.scalar(select(func.count()).select_from(Submission)) == 60
        assert s.scalar(select(func.count()).select_from(Message)) == 60
        assert verify_chain(s).ok


def test_every_field_of_a_draft_is_stored_where_the_hub_reads_it(ledger: Ledger) -> None:
    """The rows written in one batch carry each field of the draft: the submission, one message per
    route (direction from the route kind), the replay-cache row of the signed request, the partial
    send's audit entry and each message's creation entry. A field written wrongly or not at all
    would surface later as a wrong route, a lost trace hop or an SDK replay that creates anew."""
    from datetime import timedelta

    from gateway.ledger.audit import utcnow
    from gateway.ledger.models import SignedRequest

    before = utcnow()
    full = SubmissionDraft(
        message_type="status",
        document_id="000.00.00.H41,2026/12/02,7/UBND",
        sender="000.00.00.H41",
        payload_sha256="a" * 64,
        payload_size=4321,
        system_id="sys-a",
        routes=(RouteDraft("local", "sys-b", ("000.00.00.G22",)),
                RouteDraft("upstream", "vdxp", ("000.00.00.G23", "000.00.00.G24"))),
        outbound_sha256="b" * 64,
        outbound_size=4400,
        trace_hop='{"organ":"TEST.W00"}',
        subject="Về việc thử",
        code="7/UBND-VP",
        status_code="03",
        adapter="qlvb_soap",
        actor="sys-a",
        signature="c" * 64,
        partial=(("000.00.00.G22",), ("000.00.00.G25",)),
    )
    plain = replace(draft(8), routes=(RouteDraft("peer", "HUB.B", ("000.00.00.G30",)),), trace_hop=None)
    [acc, acc_plain] = write_batch(ledger, [full, plain])
    assert isinstance(acc, Accepted) and acc.created and isinstance(acc_plain, Accepted)
    with ledger.reader() as s:
        sub = s.execute(select(Submission).where(Submission.doc_id == acc.doc_id)).scalar_one()
        assert (sub.idem_key, sub.message_type, sub.document_id, sub.sender, sub.status_code) == (
            full.idem_key, "status", full.document_id, full.sender, "03")
        assert (sub.payload_sha256, sub.payload_size, sub.system_id) == ("a" * 64, 4321, "sys-a")
        assert before <= sub.received_at <= utcnow() + timedelta(seconds=1)
        msgs = s.execute(select(Message).where(Message.submission_id == sub.id).order_by(Message.id)).scalars().all()
        assert [(m.route, m.destination, m.direction) for m in msgs] == [
            ("local", "sys-b", "in"), ("upstream", "vdxp", "out")]
        assert [json.loads(m.recipients) for m in msgs] == [["000.00.00.G22"], ["000.00.00.G23", "000.00.00.G24"]]
        assert len({m.doc_id for m in msgs} | {acc.doc_id}) == 3  # each message its own DocId
        for m in msgs:
            assert (m.message_type, m.document_id, m.sender, m.adapter) == ("status", full.document_id, full.sender,
                                                                            "qlvb_soap")
            assert (m.state, m.attempts, m.transport_status) == (State.QUEUED.value, 0, "pending")
            assert (m.payload_sha256, m.payload_size) == ("b" * 64, 4400)  # the bytes each message delivers
            assert (m.source_sha256, m.trace_hop) == ("a" * 64, full.trace_hop)  # rebuilt from the original
            assert (m.subject, m.code, m.status_code) == ("Về việc thử", "7/UBND-VP", "03")
            assert m.created_at == m.updated_at == m.next_attempt_at == sub.received_at  # due at once
        other = s.execute(select(Message).where(Message.doc_id != msgs[0].doc_id, Message.doc_id != msgs[1].doc_id)
                          ).scalar_one()
        assert (other.route, other.direction, other.source_sha256, other.trace_hop) == ("peer", "out", None, None)
        replay = s.execute(select(SignedRequest)).scalars().all()  # only the signed draft is in the cache
        assert [(r.system_id, r.signature, r.operation, r.result) for r in replay] == [
            ("sys-a", "c" * 64, "sendEdoc", acc.doc_id)]
        assert replay[0].seen_at == sub.received_at
        entries = s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
        assert [e.event for e in entries] == ["submission.partial", "message.created", "message.created",
                                              "message.created"]
        part = entries[0]
        assert (part.actor, part.message_id, part.document_id) == ("sys-a", None, full.document_id)
        assert json.loads(part.detail) == {"doc_id": acc.doc_id, "sent_to": ["000.00.00.G22"],
                                           "left_out": ["000.00.00.G25"]}
        created = {e.message_id: e for e in entries[1:]}
        for m in [*msgs, other]:
            e = created[m.id]
            assert (e.document_id, e.actor) == (m.document_id, "sys-a")
            assert json.loads(e.detail) == {"doc_id": m.doc_id, "state": State.QUEUED.value, "route": m.route,
                                            "destination": m.destination, "recipients": json.loads(m.recipients),
                                            "payload_sha256": m.payload_sha256}
        assert verify_chain(s).ok
