"""One document's journey, read from the ledger: the answer to "where is 123/QĐ-UBND, who has it,
did they accept it, and can I prove it?".

:func:`load_journey` starts from a message docId (a row of the documents page) or a submission
DocId (what sendEdoc answered) and gathers, in a handful of indexed queries: the submission, every
delivery message of it (one per route), each message's attempts with the remote answer, the
state changes (from the audit trail), the status packages about the DocumentId in arrival order,
business operations, and the audit entries with their place in the hash chain (each entry's own
hash recomputed, and its link to the entry before it checked).

Business operations come from :data:`BUSINESS_SOURCES`, functions of ``(session, journey)``
returning rows: the ledger's business-operation history of the DocumentId (``business_operations``:
revoke / update / replace in arrival order, with their recipients) and the audit entries named
``business.*`` about it (and, on the page, the package's own Business block).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from gateway.errors import NotFoundError
from gateway.ledger.audit import canonical_json, entry_hash
from gateway.ledger.models import Attempt, AuditEntry, BusinessOperation, Message, StatusEvent, Submission
from gateway.ledger.store import Ledger

MAX_AUDIT = 500


@dataclass(frozen=True, slots=True)
class AuditRow:
    seq: int
    at: datetime
    actor: str
    event: str
    message_id: int | None
    detail: dict[str, Any]
    hash: str
    prev_hash: str
    hash_ok: bool
    linked: bool | None  # prev_hash equals the hash of entry seq-1 (None: that entry was not read)


@dataclass(frozen=True, slots=True)
class BusinessRow:
    at: datetime | None
    operation: str  # update | replace | revoke | … as the source names it
    actor: str
    detail: str


@dataclass
class Journey:
    focus: Message
    submission: Submission | None
    deliveries: list[Message]
    attempts: dict[int, list[Attempt]]
    statuses: list[StatusEvent]
    audit: list[AuditRow]
    business: list[BusinessRow] = field(default_factory=list)
    audit_truncated: bool = False

    @property
    def document_id(self) -> str:
        return self.focus.document_id

    @property
    def state_changes(self) -> list[AuditRow]:
        return [a for a in self.audit if a.event == "message.state"]

    @property
    def operator_actions(self) -> list[AuditRow]:
        return [a for a in self.audit if a.detail.get("operator_action")]

    def recipients(self, msg: Message) -> list[str]:
        try:
            value = json.loads(msg.recipients)
        except ValueError:
            return []
        return [str(v) for v in value] if isinstance(value, list) else []


BusinessSource = Callable[[Session, Journey], list[BusinessRow]]


def _business_from_audit(_s: Session, journey: Journey) -> list[BusinessRow]:
    """The ``business.*`` audit entries about the DocumentId (already read with the audit trail)."""
    return [
        BusinessRow(a.at, a.event.removeprefix("business."), a.actor, canonical_json(a.detail))
        for a in journey.audit
        if a.event.startswith("business.")
    ]


_OPERATIONS = {0: "new", 1: "revoke", 2: "update", 3: "replace"}


def _business_from_ledger(s: Session, journey: Journey) -> list[BusinessRow]:
    """Every business operation (revoke / update / replace) recorded on the DocumentId, in order."""
    rows = s.execute(
        select(BusinessOperation)
        .where(BusinessOperation.document_id == journey.document_id)
        .order_by(BusinessOperation.id)
    ).scalars()
    out: list[BusinessRow] = []
    for op in rows:
        parts = [f"target {op.target_document_id}" if op.target_document_id else "", op.reason or "",
                 f"recipients {', '.join(json.loads(op.recipients or '[]'))}"]  # fmt: skip
        out.append(BusinessRow(op.recorded_at, _OPERATIONS.get(op.business_type, str(op.business_type)), op.sender,
                               "; ".join(p for p in parts if p)))  # fmt: skip
    return out


BUSINESS_SOURCES: list[BusinessSource] = [_business_from_ledger, _business_from_audit]


def _find_focus(s: Session, ident: str) -> Message:
    msg = s.execute(select(Message).where(Message.doc_id == ident)).scalar_one_or_none()
    if msg is not None:
        return msg
    sub = s.execute(select(Submission).where(Submission.doc_id == ident)).scalar_one_or_none()
    if sub is not None:
        first = s.execute(
            select(Message).where(Message.submission_id == sub.id).order_by(Message.id).limit(1)
        ).scalar_one_or_none()
        if first is not None:
            return first
    raise NotFoundError(f"no document with docId {ident!r}")


def _audit_rows(s: Session, entries: list[AuditEntry]) -> list[AuditRow]:
    wanted = {e.seq - 1 for e in entries if e.seq > 1}
    known = {e.seq: e.hash for e in entries}
    missing = sorted(wanted - set(known))
    for i in range(0, len(missing), 500):
        chunk = missing[i : i + 500]
        known.update(
            {
                int(q): str(h)
                for q, h in s.execute(select(AuditEntry.seq, AuditEntry.hash).where(AuditEntry.seq.in_(chunk)))
            }
        )
    out: list[AuditRow] = []
    for e in entries:
        recomputed = entry_hash(
            e.prev_hash,
            seq=e.seq,
            at=e.at,
            actor=e.actor,
            event=e.event,
            message_id=e.message_id,
            document_id=e.document_id,
            detail=e.detail,
        )
        prev = "0" * 64 if e.seq == 1 else known.get(e.seq - 1)
        try:
            detail = json.loads(e.detail)
        except ValueError:
            detail = {"raw": e.detail}
        out.append(
            AuditRow(
                e.seq,
                e.at,
                e.actor,
                e.event,
                e.message_id,
                detail if isinstance(detail, dict) else {"value": detail},
                e.hash,
                e.prev_hash,
                recomputed == e.hash,
                None if prev is None else prev == e.prev_hash,
            )
        )
    return out


def load_journey(ledger: Ledger, ident: str) -> Journey:
    """Everything the journey page shows about the document behind ``ident`` (NotFoundError if none)."""
    with ledger.reader() as s:
        focus = _find_focus(s, ident)
        sub = s.get(Submission, focus.submission_id) if focus.submission_id else None
        if sub is not None:
            deliveries = list(
                s.execute(select(Message).where(Message.submission_id == sub.id).order_by(Message.id)).scalars()
            )
        else:
            deliveries = [focus]
        ids = [m.id for m in deliveries]
        attempts: dict[int, list[Attempt]] = {i: [] for i in ids}
        for a in s.execute(select(Attempt).where(Attempt.message_id.in_(ids)).order_by(Attempt.id)).scalars():
            attempts[a.message_id].append(a)
        statuses = list(
            s.execute(
                select(StatusEvent)
                .where(StatusEvent.document_id == focus.document_id)
                .order_by(StatusEvent.received_at, StatusEvent.id)
            ).scalars()
        )
        entries = list(
            s.execute(
                select(AuditEntry)
                .where(
                    or_(
                        AuditEntry.message_id.in_(ids),
                        (AuditEntry.document_id == focus.document_id) & AuditEntry.message_id.is_(None),
                    )
                )
                .order_by(AuditEntry.seq)
                .limit(MAX_AUDIT + 1)
            ).scalars()
        )
        truncated = len(entries) > MAX_AUDIT
        journey = Journey(
            focus, sub, deliveries, attempts, statuses, _audit_rows(s, entries[:MAX_AUDIT]), audit_truncated=truncated
        )
        for source in BUSINESS_SOURCES:
            journey.business.extend(source(s, journey))
    return journey


__all__ = ["BUSINESS_SOURCES", "AuditRow", "BusinessRow", "Journey", "load_journey"]
