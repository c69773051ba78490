"""The operator API (JSON, documented at /docs): find messages, read a timeline, retry, statistics.

Protected by operator API keys sent as ``X-API-Key``; the hub keeps only their SHA-256 digests
(``operator_key_hashes`` in the hub configuration, or ``LIENTHONG_OPERATOR_KEYS`` in the
environment). With no key configured the operator API refuses every request.
"""


import hmac
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, or_, select
from starlette.concurrency import run_in_threadpool

from gateway.config import hash_operator_key
from gateway.errors import GatewayError, IllegalTransitionError, NotFoundError
from gateway.ledger.models import Attempt, AuditEntry, Message, StatusEvent, Submission
from gateway.server.hub import HubService


class RetryRequest(BaseModel):
    reason: str = Field(min_length=3, description="why the message is retried; kept in the audit trail")


def _message(m: Message) -> dict[str, Any]:
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


def build_operator_router(hub: HubService) -> APIRouter:
    allowed = tuple(hub.settings.operator_key_hashes)

    def operator(x_api_key: Annotated[str | None, Header()] = None) -> str:
        if not x_api_key or not allowed:
            raise HTTPException(401, "operator API key required (X-API-Key)")
        digest = hash_operator_key(x_api_key)
        if not any(hmac.compare_digest(digest, h) for h in allowed):
            raise HTTPException(401, "unknown operator API key")
        return "operator:" + digest[:12]

    router = APIRouter(prefix="/api/v1", tags=["operator"])
    Operator = Annotated[str, Depends(operator)]

    @router.get("/messages", summary="List and filter messages")
    async def list_messages(
        _: Operator,
        document_id: str | None = None,
        organ: Annotated[str | None, Query(description="sender or recipient OrganId")] = None,
        state: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        def run() -> list[dict[str, Any]]:
            q = select(Message)
            if document_id:
                q = q.where(Message.document_id == document_id)
            if organ:
                q = q.where(or_(Message.sender == organ, Message.recipients.contains(json.dumps(organ))))
            if state:
                q = q.where(Message.state == state.upper())
            if since:
                q = q.where(Message.created_at >= since.replace(tzinfo=None))
            if until:
                q = q.where(Message.created_at <= until.replace(tzinfo=None))
            with hub.ledger.reader() as s:
                return [_message(m) for m in s.execute(q.order_by(Message.id.desc()).limit(limit)).scalars()]

        return {"messages": await run_in_threadpool(run)}

    @router.get("/messages/{doc_id}", summary="One message and its timeline")
    async def timeline(doc_id: str, _: Operator) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            with hub.ledger.reader() as s:
                msg = s.execute(select(Message).where(Message.doc_id == doc_id)).scalar_one_or_none()
                if msg is None:
                    raise NotFoundError(f"no message {doc_id!r}")
                sub = s.get(Submission, msg.submission_id) if msg.submission_id else None
                attempts = (
                    s.execute(select(Attempt).where(Attempt.message_id == msg.id).order_by(Attempt.id))
                    .scalars()
                    .all()
                )
                statuses = (
                    s.execute(
                        select(StatusEvent)
                        .where(StatusEvent.document_id == msg.document_id)
                        .order_by(StatusEvent.id)
                    )
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
                "message": _message(msg),
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

        try:
            return await run_in_threadpool(run)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc

    @router.post("/messages/{doc_id}/retry", summary="Retry or re-queue a FAILED or DEAD message")
    async def retry(doc_id: str, body: RetryRequest, who: Operator) -> dict[str, Any]:
        try:
            msg = await run_in_threadpool(hub.ledger.requeue, doc_id, reason=body.reason, actor=who)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc
        except IllegalTransitionError as exc:
            raise HTTPException(409, str(exc)) from exc
        except GatewayError as exc:
            raise HTTPException(400, str(exc)) from exc
        hub.work_available.set()
        return {"docId": msg.doc_id, "state": msg.state}

    @router.get("/stats/agencies", summary="Messages per sender agency and state")
    async def stats(_: Operator) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            with hub.ledger.reader() as s:
                rows = s.execute(
                    select(Message.sender, Message.state, func.count()).group_by(
                        Message.sender, Message.state
                    )
                ).all()
            out: dict[str, dict[str, int]] = {}
            for sender, state, count in rows:
                out.setdefault(sender, {})[state] = int(count)
            return {"agencies": out}

        return await run_in_threadpool(run)

    return router


__all__ = ["build_operator_router"]
