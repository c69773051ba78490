"""Read-side queries shared by the operator API and the CLI: message listings and timelines."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from gateway.errors import LedgerError, NotFoundError
from gateway.ledger.models import Attempt, AuditEntry, Message, StatusEvent, Submission
from gateway.ledger.store import Ledger


def message_dict(m: Message) -> dict[str, Any]:
    return {
        "docId": m.doc_id,
        "direction": m.direction,
        "messageType": m.message_type,
        "documentId": m.document_id,
        "sender": m.sender,
        "recipients": json.loads(m.recipients),
        "route": m.route,
        "destination": m.destination,
        "adapter": m.adapter,
        "state": m.state,
        "attempts": m.attempts,
        "nextAttemptAt": m.next_attempt_at,
        "remoteDocId": m.remote_doc_id,
        "payloadSha256": m.payload_sha256,
        "subject": m.subject,
        "code": m.code,
        "statusCode": m.status_code,
        "transportStatus": m.transport_status,
        "lastError": m.last_error,
        "createdAt": m.created_at,
        "updatedAt": m.updated_at,
        "deliveredAt": m.delivered_at,
    }


def list_messages(
    ledger: Ledger,
    *,
    document_id: str | None = None,
    organ: str | None = None,
    state: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Newest first; ``organ`` matches the sender or any recipient (exactly: LIKE wildcards in it are
    escaped); datetimes are UTC; ``limit`` must be positive."""
    if limit < 1:
        raise LedgerError(f"limit must be a positive number of rows, not {limit}")
    q = select(Message)
    if document_id:
        q = q.where(Message.document_id == document_id)
    if organ:
        q = q.where(or_(Message.sender == organ, Message.recipients.contains(json.dumps(organ), autoescape=True)))
    if state:
        q = q.where(Message.state == state.upper())
    if since:
        q = q.where(Message.created_at >= since.replace(tzinfo=None))
    if until:
        q = q.where(Message.created_at <= until.replace(tzinfo=None))
    with ledger.reader() as s:
        return [message_dict(m) for m in s.execute(q.order_by(Message.id.desc()).limit(limit)).scalars()]


def message_timeline(ledger: Ledger, doc_id: str) -> dict[str, Any]:
    """Everything about one message: state changes, attempts, status packages and audit entries."""
    with ledger.reader() as s:
        msg = s.execute(select(Message).where(Message.doc_id == doc_id)).scalar_one_or_none()
        if msg is None:
            raise NotFoundError(f"no message {doc_id!r}")
        sub = s.get(Submission, msg.submission_id) if msg.submission_id else None
        attempts = s.execute(select(Attempt).where(Attempt.message_id == msg.id).order_by(Attempt.id)).scalars().all()
        statuses = (
            s.execute(select(StatusEvent).where(StatusEvent.document_id == msg.document_id).order_by(StatusEvent.id))
            .scalars()
            .all()
        )
        audits = (
            s.execute(
                select(AuditEntry)
                .where(
                    or_(
                        AuditEntry.message_id == msg.id,
                        (AuditEntry.document_id == msg.document_id) & AuditEntry.message_id.is_(None),
                    )
                )
                .order_by(AuditEntry.seq)
            )
            .scalars()
            .all()
        )
    return {
        "message": message_dict(msg),
        "submission": None
        if sub is None
        else {
            "docId": sub.doc_id,
            "systemId": sub.system_id,
            "receivedAt": sub.received_at,
            "payloadSha256": sub.payload_sha256,
        },
        "attempts": [
            {
                "number": a.number,
                "startedAt": a.started_at,
                "finishedAt": a.finished_at,
                "outcome": a.outcome,
                "reason": a.reason,
                "error": a.error,
                "remoteDocId": a.remote_doc_id,
            }
            for a in attempts
        ],
        "statusEvents": [
            {
                "statusCode": e.status_code,
                "from": e.from_organ,
                "description": e.description,
                "eventTime": e.event_time,
                "receivedAt": e.received_at,
            }
            for e in statuses
        ],
        "audit": [
            {
                "seq": a.seq,
                "at": a.at,
                "actor": a.actor,
                "event": a.event,
                "detail": json.loads(a.detail),
                "hash": a.hash,
            }
            for a in audits
        ],
    }


__all__ = ["list_messages", "message_dict", "message_timeline"]
