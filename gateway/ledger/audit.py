"""The append-only, hash-chained audit trail.

Each entry's ``hash`` is SHA-256 over the previous entry's hash and a canonical JSON rendering of
its own columns, so editing any entry breaks its own hash and deleting one breaks the next link.
The single ``audit_head`` row holds the last sequence number and hash: appends lock it (``SELECT
... FOR UPDATE`` on PostgreSQL; SQLite writers are serialised by ``BEGIN IMMEDIATE``), which gives
one total order across processes, and :func:`verify_chain` compares it with the last entry so a
truncated tail is detected as well. Entries are buffered on the session and written just before
commit (:func:`flush_pending`), keeping the lock short.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from gateway.ledger import bulk
from gateway.ledger.models import AuditEntry, AuditHead

GENESIS = "0" * 64
_PENDING = "lienthong.audit.pending"


def utcnow() -> datetime:
    """Naive UTC with microseconds: the one clock of the ledger."""
    return datetime.now(UTC).replace(tzinfo=None)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(
    prev_hash: str,
    *,
    seq: int,
    at: datetime,
    actor: str,
    event: str,
    message_id: int | None,
    document_id: str | None,
    detail: str,
) -> str:
    body = canonical_json(
        {
            "seq": seq,
            "at": at.isoformat(timespec="microseconds"),
            "actor": actor,
            "event": event,
            "message_id": message_id,
            "document_id": document_id,
            "detail": detail,
        }
    )
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def record(
    session: Session,
    event: str,
    *,
    actor: str = "hub",
    message_id: int | None = None,
    document_id: str | None = None,
    **detail: Any,
) -> None:
    """Queue an audit entry on ``session``; it is chained and written by :func:`flush_pending`."""
    pending: list[dict[str, Any]] = session.info.setdefault(_PENDING, [])
    pending.append(
        {
            "event": event,
            "actor": actor,
            "message_id": message_id,
            "document_id": document_id,
            "detail": detail,
        }
    )


def flush_pending(session: Session) -> int:
    """Chain and insert the entries queued on ``session``; call inside the transaction, last."""
    pending: list[dict[str, Any]] = session.info.pop(_PENDING, [])
    if not pending:
        return 0
    session.flush()  # resolve message ids first
    return append_entries(session.connection(), pending)


def append_entries(conn: Connection, items: Sequence[Mapping[str, Any]]) -> int:
    """Lock the head, chain ``items`` after it, insert them in one statement and move the head.

    Each item has ``event``, ``actor``, ``message_id``, ``document_id`` and ``detail`` (a dict).
    Runs inside the caller's transaction, so the entries commit (or vanish) with the change they
    describe; a batch of many submissions takes the head lock once.
    """
    if not items:
        return 0
    head = conn.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1).with_for_update()
    ).one()
    seq, prev = int(head.seq), str(head.hash)
    rows: list[dict[str, Any]] = []
    for item in items:
        seq += 1
        at = utcnow()
        detail = canonical_json(item["detail"])
        digest = entry_hash(
            prev,
            seq=seq,
            at=at,
            actor=item["actor"],
            event=item["event"],
            message_id=item["message_id"],
            document_id=item["document_id"],
            detail=detail,
        )
        rows.append(
            {
                "seq": seq,
                "at": at,
                "actor": item["actor"],
                "event": item["event"],
                "message_id": item["message_id"],
                "document_id": item["document_id"],
                "detail": detail,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    bulk.insert_rows(conn, bulk.table_of(AuditEntry), rows, returning_ids=False)  # COPY for big batches
    conn.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=seq, hash=prev))
    return len(rows)


def discard_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


@dataclass
class ChainReport:
    """Result of :func:`verify_chain`: ``ok`` and, if not, every problem found (with its seq)."""

    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _iter_entries(session: Session, batch: int = 2000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        rows = (
            session.execute(
                select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def verify_chain(session: Session, *, max_problems: int = 50) -> ChainReport:
    """Walk the whole chain; report gaps (deletions), broken links and altered entries."""
    report = ChainReport()
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    report.head_seq, report.head_hash = head_seq, head_hash
    expected_seq, prev = 1, GENESIS
    for entry in _iter_entries(session):
        report.entries += 1
        if entry.seq != expected_seq:
            report.problems.append(f"entries {expected_seq}..{entry.seq - 1} are missing (deleted)")
        if entry.prev_hash != prev:
            report.problems.append(f"entry {entry.seq}: link to the previous entry is broken")
        digest = entry_hash(
            entry.prev_hash,
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor,
            event=entry.event,
            message_id=entry.message_id,
            document_id=entry.document_id,
            detail=entry.detail,
        )
        if digest != entry.hash:
            report.problems.append(
                f"entry {entry.seq} ({entry.event}): content does not match its hash (edited)"
            )
        prev, expected_seq = entry.hash, entry.seq + 1
        if len(report.problems) >= max_problems:
            return report
    if expected_seq - 1 != head_seq or prev != head_hash:
        report.problems.append(
            f"the chain ends at entry {expected_seq - 1} but the head records entry {head_seq} "
            "(entries at the end were deleted, or the head was altered)"
        )
    return report


__all__ = ["ChainReport", "append_entries", "canonical_json", "flush_pending", "record", "utcnow", "verify_chain"]
