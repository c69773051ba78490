"""One package the database refuses never fails the others committed in the same group.

The committer is made to take a big batch on purpose (its ``before_commit`` hook holds the first
batch until every draft is queued), and the batch mixes valid drafts with poisoned ones: a
``payload_size`` no 64-bit column holds (refused by SQLite and PostgreSQL alike) and, on
PostgreSQL, a DocumentId over its VARCHAR(512) (SQLite does not enforce lengths).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest
from patience import PATIENCE_S
from sqlalchemy import func, select

from gateway.errors import FieldTooLongError, GatewayError, SchemaValidationError
from gateway.ledger import Ledger, verify_chain
from gateway.ledger.column_limits import check_fields, limit_of
from gateway.ledger.intake import Accepted, IntakeCommitter, RouteDraft, SubmissionDraft
from gateway.ledger.models import Message, Submission

pytestmark = pytest.mark.db


def draft(n: int, *, document_id: str | None = None, size: int = 100) -> SubmissionDraft:
    return SubmissionDraft(
        message_type="edoc",
        document_id=document_id or f"000.00.00.H41,2026/11/20,{n}/UBND",
        sender="000.00.00.H41",
        payload_sha256=f"{n:064x}",
        payload_size=size,
        system_id="sys-a",
        routes=(RouteDraft("local", "sys-b", ("000.00.00.G22",)),),
        outbound_sha256=f"{n + 10**6:064x}",
        outbound_size=120,
        actor="sys-a",
    )


def test_limits_come_from_the_models() -> None:
    assert limit_of("DocumentId") == Submission.__table__.c.document_id.type.length == 512
    assert limit_of("Code") == Message.__table__.c.code.type.length == 255
    check_fields({"DocumentId": "x" * 512, "Code": None})
    with pytest.raises(FieldTooLongError) as info:
        check_fields({"DocumentId": "x" * 513})
    assert info.value.field == "DocumentId" and info.value.limit == 512 and "513" in str(info.value)


def test_a_poisoned_batch_commits_every_innocent_member(ledger: Ledger) -> None:
    is_pg = ledger.engine.dialect.name == "postgresql"
    n_valid, poison = 40, {5, 17, 33}
    if is_pg:
        poison |= {9, 26}
    drafts = []
    for i in range(n_valid + 5):
        if i in {9, 26} and is_pg:
            drafts.append(draft(i, document_id=f"{i}" + "D" * 600))  # PostgreSQL: value too long
        elif i in {5, 17, 33}:
            drafts.append(draft(i, size=2**70))  # no BIGINT holds it
        else:
            drafts.append(draft(i))
    total = len(drafts)
    queued = threading.Event()
    calls = [0]

    def hold_first_batch() -> None:
        calls[0] += 1
        if calls[0] == 1:
            queued.wait(30)

    committer = IntakeCommitter(ledger, before_commit=hold_first_batch)
    futures: list[Future[Accepted]] = [committer.enqueue(d) for d in drafts]
    queued.set()
    outcomes: list[Accepted | BaseException] = []
    for fut in futures:
        try:
            outcomes.append(fut.result(PATIENCE_S))
        except BaseException as exc:
            outcomes.append(exc)
    committer.close(timeout=PATIENCE_S)
    for i, out in enumerate(outcomes):
        if i in poison:
            assert isinstance(out, GatewayError), (i, out)
            assert "value too long" not in str(out) and "INSERT" not in str(out)
            if i in {9, 26}:
                assert isinstance(out, SchemaValidationError)  # 422, not a 500
        else:
            assert isinstance(out, Accepted) and out.created, (i, out)
    with ledger.reader() as s:
        stored = s.execute(select(Submission.document_id)).scalars().all()
        assert len(stored) == total - len(poison)
        assert s.scalar(select(func.count()).select_from(Message)) == total - len(poison)
        assert verify_chain(s).ok
