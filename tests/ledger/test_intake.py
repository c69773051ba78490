"""Group-commit intake: batches keep per-submission outcomes, idempotency, conflicts and the audit chain."""

from __future__ import annotations

import threading

import pytest
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
                results.setdefault(n, committer.submit(draft(n)).doc_id)
                assert committer.submit(draft(n)).doc_id == results[n]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    committer.close()
    assert not errors
    with ledger.reader() as s:
        assert s.scalar(select(func.count()).select_from(Submission)) == 60
        assert s.scalar(select(func.count()).select_from(Message)) == 60
        assert verify_chain(s).ok
