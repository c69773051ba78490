"""Group commit of accepted packages: many submissions, their messages and audit entries per transaction.

Under load, sendEdoc is dominated by per-transaction costs, not by the package: the commit's
flush to disk (SQLite WAL or PostgreSQL WAL), the audit head lock (which serialises every writer
from its audit append to its commit) and ORM bookkeeping. :class:`IntakeCommitter` gives each
server process one writer thread. Request threads hand it a :class:`SubmissionDraft` and wait; the
thread takes everything queued so far and writes it with multi-row Core inserts, one audit chain
append and one commit, then wakes the waiters. Nothing waits for a batch to fill: at low load a
batch is one submission (same latency as a direct write); under load batches grow by themselves.

A submission is acknowledged only after its batch committed, so crash safety is unchanged. One
bad submission never fails the others of its batch: idempotency and conflicts are decided in
Python against the rows already stored (and earlier drafts of the same batch) before anything is
written. A unique-key race with another process (the same package sent to two workers at once)
rolls the batch back and replays it, and the replay then sees the other process's row. A batch the
database still refuses for another reason (a value its column cannot hold, which PostgreSQL
enforces and SQLite does not) is committed again member by member, so only the package at fault
is refused (422, without the driver's message); column lengths are also checked at intake
(:mod:`gateway.ledger.column_limits`) so this is the second line of defence.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError

from gateway.errors import ConflictError, GatewayError, LedgerError, SchemaValidationError
from gateway.ledger import audit, bulk
from gateway.ledger.audit import utcnow
from gateway.ledger.models import Message, SignedRequest, Submission
from gateway.ledger.states import State
from gateway.ledger.store import Ledger, idempotency_key, new_doc_id

log = logging.getLogger("lienthong.ledger.intake")

MAX_BATCH = 256
RACE_RETRIES = 3


@dataclass(frozen=True, slots=True)
class RouteDraft:
    """One delivery duty of a submission: ``local`` (system id), ``peer`` (hub code) or ``upstream``."""

    route: str
    destination: str
    recipients: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SubmissionDraft:
    """Everything needed to record one accepted package (its blobs are already stored).

    ``payload_*`` is the package as received; ``outbound_*`` the bytes each message delivers. With
    ``trace_hop`` the outbound bytes are not stored but rebuilt from the original on read (see
    :func:`gateway.server.trace.outbound_bytes`).
    """

    message_type: str
    document_id: str
    sender: str
    payload_sha256: str
    payload_size: int
    system_id: str
    routes: tuple[RouteDraft, ...]
    outbound_sha256: str
    outbound_size: int
    trace_hop: str | None = None
    subject: str | None = None
    code: str | None = None
    status_code: str | None = None
    idem_extra: str = ""
    adapter: str | None = None
    actor: str = "hub"
    signature: str | None = None  # the request's HMAC, kept in the replay cache (signed_requests)
    partial: tuple[tuple[str, ...], tuple[str, ...]] | None = None  # (sent to, left out) of a partial send
    idem_key: str = field(init=False)

    def __post_init__(self) -> None:
        key = idempotency_key(self.message_type, self.document_id, self.sender, self.idem_extra)
        object.__setattr__(self, "idem_key", key)


@dataclass(frozen=True, slots=True)
class Accepted:
    """The answer for one draft: the submission's DocId and whether this call created it."""

    doc_id: str
    created: bool


def _conflict(d: SubmissionDraft, doc_id: str) -> ConflictError:
    return ConflictError(
        f"{d.message_type} {d.document_id!r} from {d.sender} was already received with different content "
        f"(DocId {doc_id}); send a new DocumentId or an update (Bussiness type 2)"
    )


def write_batch(ledger: Ledger, drafts: Sequence[SubmissionDraft]) -> list[Accepted | GatewayError]:
    """Record ``drafts`` in one transaction; per draft an :class:`Accepted` or the error refusing it."""
    for _ in range(RACE_RETRIES - 1):
        try:
            return _write_once(ledger, drafts)
        except LedgerError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
            log.info("idempotency race with another writer; replaying the batch", extra={"document_id": None})
    return _write_once(ledger, drafts)  # the last replay: whatever it raises is the answer


def _write_once(ledger: Ledger, drafts: Sequence[SubmissionDraft]) -> list[Accepted | GatewayError]:
    results: list[Accepted | GatewayError | None] = [None] * len(drafts)
    with ledger.connection() as conn:
        keys = sorted({d.idem_key for d in drafts})
        known: dict[str, tuple[str, str]] = {
            row.idem_key: (row.doc_id, row.payload_sha256)
            for row in conn.execute(
                select(Submission.idem_key, Submission.doc_id, Submission.payload_sha256).where(
                    Submission.idem_key.in_(keys)
                )
            )
        }
        now = utcnow()
        new: list[tuple[int, SubmissionDraft, dict[str, Any]]] = []
        for i, d in enumerate(drafts):
            prior = known.get(d.idem_key)
            if prior is not None:
                doc_id, sha = prior
                results[i] = Accepted(doc_id, False) if sha == d.payload_sha256 else _conflict(d, doc_id)
                continue
            doc_id = new_doc_id()
            row: dict[str, Any] = {
                "doc_id": doc_id,
                "idem_key": d.idem_key,
                "message_type": d.message_type,
                "document_id": d.document_id,
                "sender": d.sender,
                "status_code": d.status_code,
                "payload_sha256": d.payload_sha256,
                "payload_size": d.payload_size,
                "system_id": d.system_id,
                "received_at": now,
            }
            known[d.idem_key] = (doc_id, d.payload_sha256)
            results[i] = Accepted(doc_id, True)
            new.append((i, d, row))
        if new:
            sub_ids = bulk.insert_rows(conn, bulk.table_of(Submission), [r for _, _, r in new])
            signed = [
                {"system_id": d.system_id, "signature": d.signature, "operation": "sendEdoc",
                 "result": r["doc_id"], "seen_at": now}
                for _, d, r in new
                if d.signature
            ]
            bulk.insert_rows(conn, bulk.table_of(SignedRequest), signed, returning_ids=False)
            msg_rows: list[dict[str, Any]] = []
            for sub_id, (_, d, _) in zip(sub_ids, new, strict=True):
                for r in d.routes:
                    msg_rows.append(
                        {
                            "doc_id": new_doc_id(),
                            "submission_id": sub_id,
                            "direction": "in" if r.route == "local" else "out",
                            "message_type": d.message_type,
                            "document_id": d.document_id,
                            "sender": d.sender,
                            "recipients": json.dumps(list(r.recipients)),
                            "route": r.route,
                            "destination": r.destination,
                            "adapter": d.adapter,
                            "state": State.QUEUED.value,
                            "attempts": 0,
                            "next_attempt_at": now,
                            "payload_sha256": d.outbound_sha256,
                            "payload_size": d.outbound_size,
                            "source_sha256": d.payload_sha256 if d.trace_hop else None,
                            "trace_hop": d.trace_hop,
                            "subject": d.subject,
                            "code": d.code,
                            "status_code": d.status_code,
                            "transport_status": "pending",
                            "created_at": now,
                            "updated_at": now,
                            "_actor": d.actor,
                        }
                    )
            partial = [
                {
                    "event": "submission.partial",
                    "actor": d.actor,
                    "message_id": None,
                    "document_id": d.document_id,
                    "detail": {"doc_id": r["doc_id"], "sent_to": list(d.partial[0]), "left_out": list(d.partial[1])},
                }
                for _, d, r in new
                if d.partial
            ]
            if msg_rows:
                actors = [m.pop("_actor") for m in msg_rows]
                msg_ids = bulk.insert_rows(conn, bulk.table_of(Message), msg_rows)
                audit.append_entries(
                    conn,
                    partial + [
                        {
                            "event": "message.created",
                            "actor": actor,
                            "message_id": mid,
                            "document_id": m["document_id"],
                            "detail": {
                                "doc_id": m["doc_id"],
                                "state": m["state"],
                                "route": m["route"],
                                "destination": m["destination"],
                                "recipients": json.loads(m["recipients"]),
                                "payload_sha256": m["payload_sha256"],
                            },
                        }
                        for mid, m, actor in zip(msg_ids, msg_rows, actors, strict=True)
                    ],
                )
    return [r for r in results if r is not None]


class IntakeCommitter:
    """One writer thread per process that commits queued submissions in batches (see module doc)."""

    def __init__(
        self, ledger: Ledger, *, max_batch: int = MAX_BATCH, before_commit: Callable[[], None] | None = None
    ):
        self.ledger = ledger
        self.max_batch = max_batch
        # Runs once per batch before its transaction: the hub makes the batch's blobs durable here.
        self.before_commit = before_commit
        self._queue: list[tuple[SubmissionDraft, Future[Accepted]]] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def submit(self, draft: SubmissionDraft, timeout: float | None = None) -> Accepted:
        """Queue ``draft`` and wait until its batch is committed; raises the error refusing it.

        ``timeout`` bounds the wait: a writer that does not answer in time (a disk that stopped,
        a database lock held elsewhere) becomes a retryable :class:`LedgerError` instead of a
        caller blocked for ever. The submission may still be committed later; a retry with the
        same package is idempotent.
        """
        try:
            return self.enqueue(draft).result(timeout)
        except FutureTimeout:
            raise _no_answer(timeout) from None

    async def submit_async(self, draft: SubmissionDraft, timeout: float | None = None) -> Accepted:
        """:meth:`submit` for an event loop: the batch is awaited without holding a thread.

        On timeout the queued future is cancelled: a draft the writer had not taken yet is then
        never committed; one it had taken may still be (the same idempotent retry applies).
        """
        try:
            return await asyncio.wait_for(asyncio.wrap_future(self.enqueue(draft)), timeout)
        except TimeoutError:
            raise _no_answer(timeout) from None

    def enqueue(self, draft: SubmissionDraft) -> Future[Accepted]:
        """Queue ``draft``; the future completes when its batch is committed (``asyncio.wrap_future`` it)."""
        fut: Future[Accepted] = Future()
        with self._cond:
            if self._stopping:
                raise LedgerError("the ledger writer is shutting down; retry", retryable=True)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lienthong-intake", daemon=True)
                self._thread.start()
            self._queue.append((draft, fut))
            self._cond.notify()
        return fut

    def close(self, timeout: float = 10.0) -> None:
        """Finish what is queued, then stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return
                taken = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
            # a waiter that went away (client disconnected) before its turn is skipped; from here on
            # the futures cannot be cancelled, so setting their outcome below cannot fail
            batch = [(d, f) for d, f in taken if f.set_running_or_notify_cancel()]
            if batch:
                self._commit_answering_all(batch)

    def _commit_answering_all(self, batch: list[tuple[SubmissionDraft, Future[Accepted]]]) -> None:
        """:meth:`_commit`, and whatever goes wrong in it, every waiter gets an answer and the
        writer thread lives on: an exception escaping here would end the thread and leave every
        later submission of the process waiting for ever."""
        try:
            self._commit(batch)
        except Exception as exc:
            log.exception("the ledger writer failed on a batch of %d", len(batch), extra={"document_id": None})
            # the batch may have been committed before the failure: a retry is idempotent
            error = LedgerError(f"ledger write failed: {type(exc).__name__}", retryable=True)
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(error)

    def _commit(self, batch: list[tuple[SubmissionDraft, Future[Accepted]]]) -> None:
        if self.before_commit is not None:
            try:
                self.before_commit()
            except Exception as exc:  # every waiter must get an answer
                # the batch's blobs may not be durable: record none of it (committing its members one
                # by one, as for a database refusal, would acknowledge packages whose blobs never
                # reached the disk)
                log.exception("the sync before the group commit failed", extra={"document_id": None})
                error = exc if isinstance(exc, GatewayError) else LedgerError(
                    f"cannot make the batch durable: {type(exc).__name__}", retryable=True
                )
                for _, fut in batch:
                    fut.set_exception(error)
                return
        try:
            results = write_batch(self.ledger, [d for d, _ in batch])
        except GatewayError as exc:
            if len(batch) > 1 and not exc.retryable:
                self._commit_one_by_one(batch, exc)
                return
            for _, fut in batch:
                fut.set_exception(_refusal_of_one(exc) if len(batch) == 1 else exc)
            return
        except Exception as exc:  # never leave a waiter hanging
            log.exception("ledger batch failed", extra={"document_id": None})
            if len(batch) > 1:
                self._commit_one_by_one(batch, LedgerError(f"ledger write failed: {type(exc).__name__}"))
                return
            error = LedgerError(f"ledger write failed: {type(exc).__name__}", retryable=True)
            for _, fut in batch:
                fut.set_exception(error)
            return
        for (_, fut), result in zip(batch, results, strict=True):
            if isinstance(result, Accepted):
                fut.set_result(result)
            else:
                fut.set_exception(result)

    def _commit_one_by_one(self, batch: list[tuple[SubmissionDraft, Future[Accepted]]], cause: GatewayError) -> None:
        """The database refused the batch as a whole: commit each member alone so the innocent ones
        are accepted and only the package the database refuses is refused (see the module doc)."""
        log.warning(
            "ledger refused a batch of %d (%s); committing its members one by one",
            len(batch),
            cause,
            extra={"document_id": None},
        )
        for draft, fut in batch:
            try:
                result = write_batch(self.ledger, [draft])[0]
            except GatewayError as exc:
                log.warning("ledger refused a package: %s", exc, extra={"document_id": draft.document_id})
                fut.set_exception(_refusal_of_one(exc))
                continue
            except Exception as exc:  # never leave a waiter hanging
                log.exception("ledger write failed", extra={"document_id": draft.document_id})
                fut.set_exception(LedgerError(f"ledger write failed: {type(exc).__name__}", retryable=True))
                continue
            if isinstance(result, Accepted):
                fut.set_result(result)
            else:
                fut.set_exception(result)


def _refusal_of_one(exc: GatewayError) -> GatewayError:
    """A package the database refuses on its own (a value its column cannot hold): a 422 refusal
    without the driver's message (which may quote the SQL and other packages' values)."""
    if isinstance(exc, LedgerError) and isinstance(exc.__cause__, DataError):
        return SchemaValidationError(
            "the ledger cannot store a field of this package (a value is too long or malformed for its column)"
        )
    return exc


def _no_answer(timeout: float | None) -> LedgerError:
    return LedgerError(f"the ledger writer did not answer within {timeout:g} s; retry", retryable=True)


__all__ = ["Accepted", "IntakeCommitter", "RouteDraft", "SubmissionDraft", "write_batch"]
