"""Business operations on a document (Bussiness types 1-3) and the document's history.

The official samples (``edoc_revocation``, ``edoc_update``, ``edoc_replacement``) and real
agency software reuse the original document's DocumentId; the Bussiness block says which
operation a package is. So the idempotency key of an edoc includes the operation (type 0 keeps
the key it always had): each distinct operation on a document is accepted once, the same bytes
again are the same submission, and a different payload for the same operation is a conflict.

A business operation goes to the recipients the document already went to (from this sender)
plus any the new package names, is recorded in ``business_operations`` (the document's history,
in arrival order) and written in one transaction with its submission, messages, audit entries
and replay-cache row. Delivery keeps the order: :func:`must_wait` holds a message back while an
earlier message of the same document to the same destination is still undelivered, and inboxes
list messages in creation order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import exists, select, update

from gateway.ledger import audit
from gateway.ledger.audit import utcnow
from gateway.ledger.intake import Accepted, RouteDraft, SubmissionDraft
from gateway.ledger.models import BusinessOperation, Message, StatusEvent, Submission
from gateway.ledger.replay_cache import record as record_signature
from gateway.ledger.states import State
from gateway.ledger.store import Ledger

UNDELIVERED = (State.RECEIVED.value, State.TRANSLATED.value, State.SIGNED.value, State.QUEUED.value, State.FAILED.value)


def idem_extra(business_type: int) -> str:
    """The idempotency-key suffix of an edoc: empty for a new document (keys stay as they were)."""
    return f"business={business_type}" if business_type else ""


def known_recipients(ledger: Ledger, document_id: str, sender: str) -> list[str]:
    """Every OrganId this hub already routed ``document_id`` from ``sender`` to (edoc messages)."""
    with ledger.reader() as s:
        rows = s.execute(
            select(Message.recipients).where(
                Message.document_id == document_id, Message.sender == sender, Message.message_type == "edoc"
            )
        ).scalars()
        out: dict[str, None] = {}
        for r in rows:
            out.update(dict.fromkeys(json.loads(r)))
    return list(out)


def record_business(
    ledger: Ledger,
    draft: SubmissionDraft,
    *,
    business_type: int,
    target_document_id: str | None,
    reason: str | None,
    signature: str | None,
) -> Accepted:
    """Record one business-operation package (idempotently) with its history row."""
    with ledger.transaction() as s:
        sub, created = ledger.find_or_create_submission(
            s,
            message_type="edoc",
            document_id=draft.document_id,
            sender=draft.sender,
            payload_sha256=draft.payload_sha256,
            payload_size=draft.payload_size,
            system_id=draft.system_id,
            idem_extra=draft.idem_extra,
        )
        if not created:
            return Accepted(sub.doc_id, False)
        recipients: list[str] = []
        for r in draft.routes:
            recipients.extend(r.recipients)
            _queue(ledger, s, draft, sub, r, r.recipients,
                   (draft.outbound_sha256, draft.outbound_size, draft.payload_sha256, draft.trace_hop))
        s.add(
            BusinessOperation(
                submission_id=sub.id,
                document_id=draft.document_id,
                sender=draft.sender,
                business_type=business_type,
                target_document_id=target_document_id,
                reason=reason,
                recipients=json.dumps(recipients),
                recorded_at=utcnow(),
            )
        )
        audit.record(
            s,
            "business.operation",
            actor=draft.actor,
            document_id=draft.document_id,
            doc_id=sub.doc_id,
            business_type=business_type,
            target_document_id=target_document_id,
            recipients=recipients,
        )
        if signature:
            record_signature(s, draft.system_id, signature, "sendEdoc", sub.doc_id)
        return Accepted(sub.doc_id, True)


def _queue(
    ledger: Ledger,
    s: Any,
    draft: SubmissionDraft,
    sub: Submission,
    route: RouteDraft,
    recipients: Sequence[str],
    payload: tuple[str, int, str | None, str | None],
) -> None:
    """One QUEUED message of ``sub`` for ``recipients`` on ``route``; ``payload`` = (outbound sha256,
    size, source sha256, trace hop)."""
    ledger.add_message(
        s,
        direction="in" if route.route == "local" else "out",
        message_type=draft.message_type,
        document_id=draft.document_id,
        sender=draft.sender,
        recipients=tuple(recipients),
        route=route.route,
        destination=route.destination,
        payload_sha256=payload[0],
        payload_size=payload[1],
        source_sha256=payload[2],
        trace_hop=payload[3],
        state=State.QUEUED,
        submission=sub,
        subject=draft.subject,
        code=draft.code,
        adapter=draft.adapter,
        actor=draft.actor,
    )


def add_missing_routes(ledger: Ledger, doc_id: str, routes: Sequence[RouteDraft], draft: SubmissionDraft) -> list[str]:
    """Complete an earlier partial send: add messages for recipients the submission does not cover."""
    added: list[str] = []
    with ledger.transaction() as s:
        sub = s.execute(select(Submission).where(Submission.doc_id == doc_id).with_for_update()).scalar_one()
        covered: set[str] = set()
        existing = (
            s.execute(select(Message).where(Message.submission_id == sub.id).order_by(Message.id)).scalars().all()
        )
        for m in existing:
            covered.update(json.loads(m.recipients))
        # deliver the very bytes already acknowledged (same hop), so next hops see the same package
        first = existing[0] if existing else None
        if first is not None:
            payload = (first.payload_sha256, first.payload_size, first.source_sha256, first.trace_hop)
        else:
            payload = (draft.outbound_sha256, draft.outbound_size, draft.payload_sha256, draft.trace_hop)
        for r in routes:
            missing = tuple(x for x in r.recipients if x not in covered)
            if not missing:
                continue
            added.extend(missing)
            _queue(ledger, s, draft, sub, r, missing, payload)
        if added:
            audit.record(
                s, "submission.completed", actor=draft.actor, document_id=draft.document_id, doc_id=doc_id, added=added
            )
    return added


def must_wait(ledger: Ledger, msg: Message) -> bool:
    """True while an earlier message of the same document to the same destination is undelivered."""
    with ledger.reader() as s:
        return bool(
            s.execute(
                select(
                    exists().where(
                        Message.document_id == msg.document_id,
                        Message.route == msg.route,
                        Message.destination == msg.destination,
                        Message.id < msg.id,
                        Message.state.in_(UNDELIVERED),
                    )
                )
            ).scalar()
        )


def postpone(ledger: Ledger, message_id: int, seconds: float) -> None:
    """Release a leased message for a short while without counting an attempt."""
    with ledger.transaction() as s:
        s.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(lease_until=None, next_attempt_at=utcnow() + timedelta(seconds=seconds))
        )


def document_history(ledger: Ledger, document_id: str) -> list[dict[str, Any]]:
    """Submissions (new document, business operations) and status events of one document, in order."""
    with ledger.reader() as s:
        subs = s.execute(
            select(Submission, BusinessOperation)
            .outerjoin(BusinessOperation, BusinessOperation.submission_id == Submission.id)
            .where(Submission.document_id == document_id)
            .order_by(Submission.id)
        ).all()
        events = s.execute(
            select(StatusEvent).where(StatusEvent.document_id == document_id).order_by(StatusEvent.id)
        ).scalars().all()
    out: list[dict[str, Any]] = []
    for sub, op in subs:
        entry: dict[str, Any] = {
            "doc_id": sub.doc_id,
            "message_type": sub.message_type,
            "sender": sub.sender,
            "received_at": sub.received_at.isoformat(),
        }
        if sub.message_type == "edoc":
            entry["business_type"] = op.business_type if op is not None else 0
            if op is not None:
                entry["target_document_id"] = op.target_document_id
                entry["reason"] = op.reason
        else:
            entry["status_code"] = sub.status_code
        out.append(entry)
    for ev in events:
        out.append({"status_event": ev.status_code, "from": ev.from_organ, "event_time": ev.event_time})
    return out


__all__ = [
    "add_missing_routes",
    "document_history",
    "idem_extra",
    "known_recipients",
    "must_wait",
    "postpone",
    "record_business",
]
