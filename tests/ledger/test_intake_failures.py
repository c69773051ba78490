"""How the intake answers when the database or the committer's own code fails, and what it logs.

The unique-key race with another writer (two processes storing the same package at once) cannot
happen on SQLite, whose write transactions are serialised (``BEGIN IMMEDIATE``), and an unexpected
exception inside a batch has no natural trigger on both backends. Both are injected here at the one
seam each passes through (``bulk.insert_rows`` inside the real transaction, so the ledger's own
error translation runs; ``intake.write_batch`` for the committer), and the tests check what a
caller and an operator see: the outcome of every waiter, the number of attempts, the log lines.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest
from intake_drafts import draft
from patience import PATIENCE_S
from sqlalchemy import func, select
from sqlalchemy.exc import DataError, IntegrityError

from gateway.errors import ConflictError, GatewayError, LedgerError
from gateway.ledger import Ledger, intake, verify_chain
from gateway.ledger.intake import RACE_RETRIES, Accepted, IntakeCommitter, SubmissionDraft, write_batch
from gateway.ledger.models import Submission

pytestmark = pytest.mark.db

class _FailingInserts:
    """Replaces ``bulk.insert_rows``: the first ``times`` inserts into ``submissions`` raise ``error``
    (a driver error, translated by the ledger as for a real one); later calls insert for real."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, error: Exception, times: int) -> None:
        self.real = intake.bulk.insert_rows
        self.error = error
        self.left = times
        self.calls = 0
        monkeypatch.setattr(intake.bulk, "insert_rows", self)

    def __call__(self, conn: Any, table: Any, rows: list[dict[str, Any]], **kw: Any) -> list[int]:
        if table.name == "submissions":
            self.calls += 1
            if self.left > 0:
                self.left -= 1
                raise self.error
        return self.real(conn, table, rows, **kw)


def _race() -> IntegrityError:
    return IntegrityError("INSERT INTO submissions ...", {}, Exception("UNIQUE constraint failed: submissions.idem_key"))


def test_a_unique_key_race_is_replayed_and_logged_without_a_document(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lienthong.ledger.intake")
    inserts = _FailingInserts(monkeypatch, _race(), times=RACE_RETRIES - 1)
    [out] = write_batch(ledger, [draft(1)])
    assert isinstance(out, Accepted) and out.created
    assert inserts.calls == RACE_RETRIES  # every race replayed, the last attempt stored it
    replays = [r for r in caplog.records if r.getMessage() == "idempotency race with another writer; replaying the batch"]
    assert len(replays) == RACE_RETRIES - 1
    assert all(r.levelno == logging.INFO and r.__dict__["document_id"] is None for r in replays)
    with ledger.reader() as s:
        assert s.scalar(select(func.count()).select_from(Submission)) == 1
        assert verify_chain(s).ok


def test_a_race_that_never_ends_gives_up_after_the_last_replay(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    inserts = _FailingInserts(monkeypatch, _race(), times=RACE_RETRIES + 5)
    with pytest.raises(LedgerError) as info:
        write_batch(ledger, [draft(2)])
    assert isinstance(info.value.__cause__, IntegrityError)
    assert inserts.calls == RACE_RETRIES
    with ledger.reader() as s:
        assert s.scalar(select(func.count()).select_from(Submission)) == 0


def test_any_other_database_refusal_is_not_replayed(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    inserts = _FailingInserts(monkeypatch, DataError("INSERT", {}, Exception("value too long")), times=1)
    with pytest.raises(LedgerError) as info:
        write_batch(ledger, [draft(3)])
    assert isinstance(info.value.__cause__, DataError) and not info.value.retryable
    assert inserts.calls == 1
    assert isinstance(write_batch(ledger, [draft(3)])[0], Accepted)  # nothing was half written


def test_the_idempotency_key_separates_types_and_operations(ledger: Ledger) -> None:
    """One DocumentId from one sender is several submissions when the message type or the business
    operation (``idem_extra``) differs; only the very same key is the same package."""
    edoc = draft(4)
    status = draft(4, message_type="status", payload_sha256="e" * 64)
    update = draft(4, idem_extra="business:2", payload_sha256="f" * 64)
    other_sender = draft(4, sender="000.00.00.G22", payload_sha256="d" * 64)  # DocumentIds are per sender
    out = write_batch(ledger, [edoc, status, update, other_sender])
    assert all(isinstance(o, Accepted) and o.created for o in out), out
    assert len({o.doc_id for o in out if isinstance(o, Accepted)}) == 4
    again = write_batch(ledger, [draft(4, idem_extra="business:2", payload_sha256="0" * 64)])
    assert isinstance(again[0], ConflictError)  # same key, other bytes


class _Hold:
    """``before_commit`` that holds the first batch until released; counts batches."""

    def __init__(self) -> None:
        import threading

        self.batches = 0
        self.release = threading.Event()
        self.started = threading.Event()

    def __call__(self) -> None:
        self.batches += 1
        if self.batches == 1:
            self.started.set()
            assert self.release.wait(PATIENCE_S)


def _batched(ledger: Ledger, drafts: Sequence[SubmissionDraft]) -> list[Accepted | BaseException]:
    """Commit ``drafts`` as one batch (the first, held, batch is a separate filler)."""
    hold = _Hold()
    committer = IntakeCommitter(ledger, before_commit=hold)
    try:
        filler = committer.enqueue(draft(999))
        assert hold.started.wait(PATIENCE_S)
        futures = [committer.enqueue(d) for d in drafts]
        hold.release.set()
        filler.result(PATIENCE_S)
        out: list[Accepted | BaseException] = []
        for f in futures:
            exc = f.exception(PATIENCE_S)
            out.append(exc if exc is not None else f.result(PATIENCE_S))
        assert hold.batches == 2, "the drafts were not committed as one batch"
        return out
    finally:
        hold.release.set()
        committer.close(timeout=PATIENCE_S)


def _boom_for(monkeypatch: pytest.MonkeyPatch, document_id: str) -> None:
    """``write_batch`` raises a plain RuntimeError (a bug, not a ledger error) for a batch holding ``document_id``."""
    real = intake.write_batch

    def write(ledger: Ledger, drafts: Sequence[SubmissionDraft]) -> list[Accepted | GatewayError]:
        if any(d.document_id == document_id for d in drafts):
            raise RuntimeError("boom")
        return real(ledger, drafts)

    monkeypatch.setattr(intake, "write_batch", write)


def test_an_unexpected_error_in_a_batch_of_one_is_a_retryable_error_naming_its_kind(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lienthong.ledger.intake")
    bad = draft(10)
    _boom_for(monkeypatch, bad.document_id)
    committer = IntakeCommitter(ledger)
    try:
        with pytest.raises(LedgerError) as info:
            committer.submit(bad, timeout=PATIENCE_S)
        assert committer.submit(draft(11), timeout=PATIENCE_S).created  # the writer thread survived
    finally:
        committer.close(timeout=PATIENCE_S)
    assert str(info.value) == "ledger write failed: RuntimeError" and info.value.retryable
    failed = [r for r in caplog.records if r.getMessage() == "ledger batch failed"]
    assert len(failed) == 1 and failed[0].levelno == logging.ERROR and failed[0].exc_info
    assert failed[0].__dict__["document_id"] is None
    assert not [r for r in caplog.records if "one by one" in r.getMessage()]  # one member: no split


@pytest.mark.parametrize("members", [2, 3])
def test_an_unexpected_error_in_a_batch_splits_it_and_only_the_culprit_fails(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, members: int
) -> None:
    caplog.set_level(logging.INFO, logger="lienthong.ledger.intake")
    bad = draft(21)
    _boom_for(monkeypatch, bad.document_id)
    out = _batched(ledger, [draft(20), bad, draft(22)][:members])
    assert all(isinstance(o, Accepted) and o.created for i, o in enumerate(out) if i != 1), out
    assert isinstance(out[1], LedgerError) and out[1].retryable and str(out[1]) == "ledger write failed: RuntimeError"
    failed = [r for r in caplog.records if r.getMessage() == "ledger batch failed"]
    assert len(failed) == 1 and failed[0].__dict__["document_id"] is None and failed[0].exc_info
    split = [r for r in caplog.records if r.getMessage().startswith("ledger refused a batch")]
    assert [r.getMessage() for r in split] == [
        f"ledger refused a batch of {members} (ledger write failed: RuntimeError); committing its members one by one"]
    named = [r for r in caplog.records if r.__dict__.get("document_id") == bad.document_id]
    assert [r.getMessage() for r in named] == ["ledger write failed"]


@pytest.mark.parametrize("members", [2, 3])
def test_a_conflict_inside_a_split_batch_still_reaches_its_sender(ledger: Ledger, members: int) -> None:
    """Members of a split batch are answered by what their own commit returned: the conflicting
    resend gets its ConflictError (not an empty refusal), the innocent ones are stored."""
    first = write_batch(ledger, [draft(30)])[0]
    assert isinstance(first, Accepted)
    poisoned = draft(31, system_id=None)  # type: ignore[arg-type]  # NOT NULL: refused by the database
    out = _batched(ledger, [draft(30, payload_sha256="c" * 64), poisoned, draft(32)][:members])
    assert isinstance(out[0], ConflictError) and f"DocId {first.doc_id}" in str(out[0])
    assert isinstance(out[1], GatewayError) and not isinstance(out[1], ConflictError)
    if members == 3:
        assert isinstance(out[2], Accepted) and out[2].created


def test_a_database_refusal_of_a_batch_of_one_is_not_split(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    """A single refused package is answered from its one attempt: no "one by one" retry, no second write."""
    caplog.set_level(logging.INFO, logger="lienthong.ledger.intake")
    committer = IntakeCommitter(ledger)
    try:
        with pytest.raises(GatewayError) as info:
            committer.submit(draft(40, system_id=None), timeout=PATIENCE_S)  # type: ignore[arg-type]
    finally:
        committer.close(timeout=PATIENCE_S)
    assert "did not answer" not in str(info.value)  # the database's refusal, not a writer that hung
    assert not [r for r in caplog.records if "one by one" in r.getMessage() or "refused a package" in r.getMessage()]


def test_a_failed_blob_sync_is_logged_once_as_an_error_of_the_batch(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lienthong.ledger.intake")

    def fail() -> None:
        raise OSError("EIO")

    committer = IntakeCommitter(ledger, before_commit=fail)
    try:
        with pytest.raises(LedgerError, match=r"^cannot make the batch durable: OSError$"):
            committer.submit(draft(50), timeout=PATIENCE_S)
    finally:
        committer.close(timeout=PATIENCE_S)
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in lines] == ["the sync before the group commit failed"]
    assert lines[0].levelno == logging.ERROR and lines[0].exc_info and lines[0].__dict__["document_id"] is None
