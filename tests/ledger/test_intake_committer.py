"""The group committer's promises to the request threads: bounded batches, a clean shutdown, precise refusals.

Each test drives :class:`IntakeCommitter` through its public calls only (``enqueue``/``submit``,
``close``, the ``before_commit`` hook the hub uses to sync blobs once per batch) and checks what a
caller or the ledger can see, so the tests hold however the writer thread is built inside.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from concurrent.futures import Future
from dataclasses import replace

import pytest
from intake_drafts import H41, draft
from patience import PATIENCE_S
from sqlalchemy import event, func, select

from gateway.errors import BlobStoreError, ConflictError, GatewayError, LedgerError, SchemaValidationError
from gateway.ledger import Ledger, intake, verify_chain
from gateway.ledger.intake import Accepted, IntakeCommitter, write_batch
from gateway.ledger.models import Submission

pytestmark = pytest.mark.db

def _wait_until(predicate, timeout: float = PATIENCE_S) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout  # a deadline for a loaded machine, not a timing goal
    while not predicate():
        assert time.monotonic() < deadline, "the committer never reached the expected point"
        time.sleep(0.01)


class _HeldFirstBatch:
    """A ``before_commit`` hook that counts batches and holds the first one until released."""

    def __init__(self) -> None:
        self.batches = 0
        self.release = threading.Event()

    def __call__(self) -> None:
        self.batches += 1
        if self.batches == 1:
            assert self.release.wait(PATIENCE_S), "the test never released the first batch"


def test_a_conflict_names_the_document_the_sender_and_the_submission_already_stored(ledger: Ledger) -> None:
    first = write_batch(ledger, [draft(1)])[0]
    assert isinstance(first, Accepted)
    refused = write_batch(ledger, [draft(1, sha="e" * 64)])[0]
    assert isinstance(refused, ConflictError)
    text = str(refused)
    assert f"edoc '{H41},2026/12/02,1/UBND' from {H41}" in text
    assert f"(DocId {first.doc_id})" in text and "different content" in text


def test_no_batch_is_larger_than_max_batch(ledger: Ledger) -> None:
    hook = _HeldFirstBatch()
    committer = IntakeCommitter(ledger, max_batch=2, before_commit=hook)
    try:
        futures = [committer.enqueue(draft(0))]
        _wait_until(lambda: hook.batches == 1)  # the writer holds batch [0]; the rest queue up behind it
        futures += [committer.enqueue(draft(n)) for n in range(1, 6)]
        hook.release.set()
        results = [f.result(PATIENCE_S) for f in futures]
    finally:
        hook.release.set()
        committer.close(timeout=PATIENCE_S)
    assert hook.batches == 4  # [0], [1, 2], [3, 4], [5]: five queued drafts, at most two per commit
    assert all(r.created for r in results) and len({r.doc_id for r in results}) == 6
    with ledger.reader() as s:
        assert s.scalar(select(func.count()).select_from(Submission)) == 6
        assert verify_chain(s).ok


def test_close_finishes_the_queued_work_before_it_returns(ledger: Ledger) -> None:
    hook = _HeldFirstBatch()
    committer = IntakeCommitter(ledger, max_batch=3, before_commit=hook)
    futures: list[Future[Accepted]] = [committer.enqueue(draft(10))]
    _wait_until(lambda: hook.batches == 1)
    futures += [committer.enqueue(draft(n)) for n in range(11, 16)]
    # the first batch is released only a while after close() was called: close() must wait for it
    # and for the two batches queued behind it, not return at once
    threading.Timer(1.0, hook.release.set).start()
    committer.close(timeout=PATIENCE_S)
    assert all(f.done() for f in futures), "close() returned before the queued submissions were committed"
    assert all(f.result(PATIENCE_S).created for f in futures)
    with ledger.reader() as s:
        assert s.scalar(select(func.count()).select_from(Submission)) == 6


def test_a_closed_committer_refuses_new_work_with_a_retryable_error(ledger: Ledger) -> None:
    committer = IntakeCommitter(ledger)
    assert committer.submit(draft(20), timeout=PATIENCE_S).created
    committer.close(timeout=PATIENCE_S)
    with pytest.raises(LedgerError) as info:
        committer.enqueue(draft(21))
    assert info.value.retryable  # the next worker (or the restarted process) can take it
    assert str(info.value) == "the ledger writer is shutting down; retry"
    with ledger.reader() as s:
        assert s.scalar(select(func.count()).select_from(Submission)) == 1


def test_closing_an_unused_committer_returns_at_once_and_still_refuses_work(ledger: Ledger) -> None:
    committer = IntakeCommitter(ledger)
    committer.close(timeout=PATIENCE_S)  # no writer thread was ever started
    with pytest.raises(LedgerError, match="shutting down"):
        committer.submit(draft(30), timeout=PATIENCE_S)


def test_close_gives_up_waiting_after_its_timeout_when_a_batch_is_stuck(ledger: Ledger) -> None:
    hook = _HeldFirstBatch()
    committer = IntakeCommitter(ledger, before_commit=hook)
    future = committer.enqueue(draft(40))
    _wait_until(lambda: hook.batches == 1)  # the batch hangs in before_commit (a stuck disk sync)
    closer = threading.Thread(target=committer.close, kwargs={"timeout": 0.2})
    closer.start()
    closer.join(PATIENCE_S)
    still_closing = closer.is_alive()
    hook.release.set()
    closer.join(PATIENCE_S)
    assert not still_closing, "close() waited for a stuck batch beyond its timeout (shutdown would hang)"
    assert future.result(PATIENCE_S).created  # the stuck batch still completes once the sync returns


def test_the_writer_is_a_named_daemon_thread(ledger: Ledger) -> None:
    """A forgotten ``close()`` must never keep the process alive, and thread dumps name the writer."""
    committer = IntakeCommitter(ledger)
    try:
        committer.submit(draft(50), timeout=PATIENCE_S)
        writers = [t for t in threading.enumerate() if t.name == "lienthong-intake"]
        assert writers and all(t.daemon for t in writers)
    finally:
        committer.close(timeout=PATIENCE_S)


TOO_LONG = "D" * 3000  # over VARCHAR(512) on PostgreSQL, over the length limit set below on SQLite


def _refuse_long_values_on_sqlite(ledger: Ledger) -> None:
    """Make SQLite refuse a value its column cannot hold, as PostgreSQL does for VARCHAR(512).

    SQLite enforces no column length, but it does enforce ``SQLITE_LIMIT_LENGTH``, and sqlite3 reports
    a value over it as ``DataError`` (SQLITE_TOOBIG), the very class PostgreSQL's "value too long"
    arrives as. So the DataError path, which the hub relies on for PostgreSQL, runs on SQLite too
    (where ``make mutation`` runs)."""
    if ledger.engine.dialect.name != "sqlite":
        return

    @event.listens_for(ledger.engine, "connect")
    def _limit(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        dbapi_conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 2048)

    ledger.engine.dispose()  # the pooled connections were opened without the limit


@pytest.mark.parametrize(
    "poison",
    [{"system_id": None}, {"payload_size": 2**70}, {"document_id": TOO_LONG}],
    ids=["not-null", "overflow", "value-too-long"],
)
def test_a_refused_batch_is_logged_once_and_the_refused_package_by_its_document_id(
    ledger: Ledger, caplog: pytest.LogCaptureFixture, poison: dict[str, object]
) -> None:
    """Operators find the package at fault by the ``document_id`` of its log line; the batch-level
    line names no document (it is about all of them) and says why the batch was split."""
    caplog.set_level(logging.INFO, logger="lienthong.ledger.intake")
    if poison.get("document_id") == TOO_LONG:
        _refuse_long_values_on_sqlite(ledger)
    hook = _HeldFirstBatch()
    committer = IntakeCommitter(ledger, before_commit=hook)
    bad = replace(draft(62), **poison)  # type: ignore[arg-type]  # a row the database refuses
    try:
        held = committer.enqueue(draft(60))
        _wait_until(lambda: hook.batches == 1)
        futures = [committer.enqueue(d) for d in (draft(61), bad, draft(63))]
        hook.release.set()
        assert held.result(PATIENCE_S).created
        assert futures[0].result(PATIENCE_S).created and futures[2].result(PATIENCE_S).created
        refused = futures[1].exception(PATIENCE_S)
    finally:
        hook.release.set()
        committer.close(timeout=PATIENCE_S)
    assert isinstance(refused, GatewayError)
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    split = [r for r in lines if r.getMessage().startswith("ledger refused a batch of 3 (")]
    assert len(split) == 1, [r.getMessage() for r in lines]
    text = split[0].getMessage()
    assert text.endswith("); committing its members one by one")
    cause = text.removeprefix("ledger refused a batch of 3 (").removesuffix("); committing its members one by one")
    assert cause and cause != "None"
    assert "document_id" in split[0].__dict__ and split[0].__dict__["document_id"] is None
    named = [r for r in lines if r.__dict__.get("document_id") == bad.document_id]
    assert len(named) == 1, [r.getMessage() for r in lines]
    message = named[0].getMessage()
    if poison.get("document_id") == TOO_LONG:  # the column refused the value (DataError): a 422, never a 500
        assert isinstance(refused, SchemaValidationError)
    if isinstance(refused, SchemaValidationError):  # the column refused the value (DataError)
        # the sender gets a 422 without the driver's words; the operator's log line keeps them
        assert str(refused).startswith("the ledger cannot store a field of this package")
        assert message.startswith("ledger refused a package: ledger error: ") and str(refused) not in message
    else:
        assert message in (f"ledger refused a package: {refused}", "ledger write failed")
    if named[0].getMessage() == "ledger write failed":  # not a ledger error (SQLite's int overflow)
        assert isinstance(refused, LedgerError) and refused.retryable
        assert str(refused).startswith("ledger write failed: ") and not str(refused).endswith("NoneType")


class _FailingSecondSync(_HeldFirstBatch):
    """Holds the first batch like its parent, then fails the second batch's sync as ``error``."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def __call__(self) -> None:
        super().__call__()
        if self.batches == 2:
            raise self.error


@pytest.mark.parametrize("members", [1, 2, 3])
@pytest.mark.parametrize("error", [BlobStoreError("cannot sync the blob store: EIO"), RuntimeError("EIO")],
                         ids=["blobstore-error", "unexpected-error"])
def test_a_failed_blob_sync_records_nothing_of_its_batch(ledger: Ledger, members: int, error: Exception) -> None:
    """The hub's before_commit makes the batch's blobs durable: if it fails, no package of the batch
    may be recorded (and so acknowledged), not even one by one; every waiter gets the error."""
    hook = _FailingSecondSync(error)
    committer = IntakeCommitter(ledger, before_commit=hook)
    try:
        held = committer.enqueue(draft(70))
        _wait_until(lambda: hook.batches == 1)
        futures = [committer.enqueue(draft(71 + i)) for i in range(members)]
        hook.release.set()
        assert held.result(PATIENCE_S).created
        errors = [f.exception(PATIENCE_S) for f in futures]
        after = committer.submit(draft(80), timeout=PATIENCE_S)  # the next batch syncs again and is recorded
    finally:
        hook.release.set()
        committer.close(timeout=PATIENCE_S)
    assert hook.batches == 3 and after.created
    if isinstance(error, GatewayError):
        assert all(e is error for e in errors)
    else:
        assert all(isinstance(e, LedgerError) and e.retryable for e in errors)
        assert all(str(e) == "cannot make the batch durable: RuntimeError" for e in errors)
    with ledger.reader() as s:
        stored = set(s.execute(select(Submission.document_id)).scalars())
    assert stored == {draft(70).document_id, draft(80).document_id}



def test_a_conflicting_resend_through_the_committer_gets_the_conflict_error(ledger: Ledger) -> None:
    committer = IntakeCommitter(ledger)
    try:
        first = committer.submit(draft(100), timeout=PATIENCE_S)
        with pytest.raises(ConflictError, match=f"DocId {first.doc_id}"):
            committer.submit(draft(100, sha="d" * 64), timeout=PATIENCE_S)
        assert committer.submit(draft(100), timeout=PATIENCE_S) == Accepted(first.doc_id, False)
    finally:
        committer.close(timeout=PATIENCE_S)


def test_a_value_the_column_cannot_hold_alone_is_refused_with_a_422_naming_no_driver_detail(ledger: Ledger) -> None:
    """A batch of one takes the direct path (no split): its refusal is still the 422 without the
    driver's message (which quotes the SQL and the value), and nothing of it is stored."""
    _refuse_long_values_on_sqlite(ledger)
    committer = IntakeCommitter(ledger)
    try:
        with pytest.raises(SchemaValidationError) as info:
            committer.submit(replace(draft(90), document_id=TOO_LONG), timeout=PATIENCE_S)
        assert committer.submit(draft(91), timeout=PATIENCE_S).created  # the writer carries on
    finally:
        committer.close(timeout=PATIENCE_S)
    text = str(info.value)
    assert text == "the ledger cannot store a field of this package (a value is too long or malformed for its column)"
    assert not info.value.retryable
    with ledger.reader() as s:
        assert set(s.execute(select(Submission.document_id)).scalars()) == {draft(91).document_id}
        assert verify_chain(s).ok


def test_waiters_that_went_away_before_their_turn_are_not_committed(ledger: Ledger) -> None:
    hook = _HeldFirstBatch()
    committer = IntakeCommitter(ledger, max_batch=2, before_commit=hook)
    try:
        first = committer.enqueue(draft(50))
        _wait_until(lambda: hook.batches == 1)  # batch [50] is held; the next ones queue behind it
        gone = [committer.enqueue(draft(n)) for n in (51, 52)]  # one whole batch of its own
        mixed = [committer.enqueue(draft(53)), committer.enqueue(draft(54))]
        assert all(f.cancel() for f in gone) and mixed[0].cancel()  # the clients disconnected
        hook.release.set()
        assert first.result(PATIENCE_S).created and mixed[1].result(PATIENCE_S).created
        later = committer.submit(draft(55), timeout=PATIENCE_S)  # the writer goes on after a batch of cancelled waiters
    finally:
        hook.release.set()
        committer.close(timeout=PATIENCE_S)
    assert later.created
    assert hook.batches == 3  # [50], [54] and [55]: the batch of two cancelled waiters never reached the sync
    with ledger.reader() as s:
        stored = set(s.scalars(select(Submission.document_id)))
        assert stored == {draft(n).document_id for n in (50, 54, 55)}
        assert verify_chain(s).ok


def test_a_submission_the_writer_does_not_answer_in_time_is_a_retryable_error(ledger: Ledger) -> None:
    """``submit(timeout=…)``: a stuck writer (here: a blob sync that does not return) answers the
    caller with a retryable error instead of blocking it for ever; the package is still committed
    once the writer moves on, and the retry is then idempotent."""
    hook = _HeldFirstBatch()
    committer = IntakeCommitter(ledger, before_commit=hook)
    try:
        with pytest.raises(LedgerError, match=r"^the ledger writer did not answer within 0.2 s; retry$") as info:
            committer.submit(draft(110), timeout=0.2)
        assert info.value.retryable
        hook.release.set()
        assert committer.submit(draft(110), timeout=PATIENCE_S) == Accepted(_doc_id(ledger, 110), False)
    finally:
        hook.release.set()
        committer.close(timeout=PATIENCE_S)


def test_an_awaited_submission_is_answered_and_a_late_one_is_withdrawn_from_the_queue(ledger: Ledger) -> None:
    """``submit_async``: the event loop's way to wait. Its answer is the batch's, and on timeout the
    draft the writer had not taken yet is withdrawn (never committed) while the one it holds is."""
    hook = _HeldFirstBatch()
    committer = IntakeCommitter(ledger, before_commit=hook)

    async def held_then_queued() -> None:
        first = committer.enqueue(draft(130))  # the writer takes it and is held in the sync
        _wait_until(lambda: hook.batches == 1)
        with pytest.raises(LedgerError, match=r"^the ledger writer did not answer within 0.2 s; retry$") as info:
            await committer.submit_async(draft(131), timeout=0.2)
        assert info.value.retryable
        hook.release.set()
        assert first.result(PATIENCE_S).created
        assert await committer.submit_async(draft(132), timeout=PATIENCE_S) == Accepted(_doc_id(ledger, 132), True)

    try:
        asyncio.run(held_then_queued())
    finally:
        hook.release.set()
        committer.close(timeout=PATIENCE_S)
    with ledger.reader() as s:
        assert set(s.scalars(select(Submission.document_id))) == {draft(n).document_id for n in (130, 132)}


def test_a_failure_after_the_write_answers_every_waiter_and_the_writer_lives_on(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever escapes the commit (here write_batch returns one answer too few, so pairing the
    answers with the waiters fails after the transaction) becomes a retryable error for each
    waiter of the batch; the thread is not lost, so later submissions are still answered."""
    real = intake.write_batch
    monkeypatch.setattr(intake, "write_batch", lambda led, drafts: real(led, drafts)[:-1])
    caplog.set_level(logging.ERROR, logger="lienthong.ledger.intake")
    committer = IntakeCommitter(ledger)
    try:
        with pytest.raises(LedgerError, match=r"^ledger write failed: ValueError$") as info:
            committer.submit(draft(120), timeout=PATIENCE_S)
        assert info.value.retryable
        monkeypatch.setattr(intake, "write_batch", real)
        # the batch had been committed before the failure: the retry finds it
        assert committer.submit(draft(120), timeout=PATIENCE_S) == Accepted(_doc_id(ledger, 120), False)
        assert committer.submit(draft(121), timeout=PATIENCE_S).created
    finally:
        committer.close(timeout=PATIENCE_S)
    failed = [r for r in caplog.records if r.getMessage() == "the ledger writer failed on a batch of 1"]
    assert len(failed) == 1 and failed[0].exc_info and failed[0].__dict__["document_id"] is None


def _doc_id(ledger: Ledger, n: int) -> str:
    with ledger.reader() as s:
        return str(s.scalar(select(Submission.doc_id).where(Submission.document_id == draft(n).document_id)))
