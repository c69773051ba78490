"""The operator API (JSON, documented at /docs): find messages, read a timeline, retry, statistics.

Protected by operator API keys sent as ``X-API-Key``; the hub keeps only their SHA-256 digests:
keys created with ``lienthong operators add`` (in the ledger, revocable), plus any digests in
``operator_key_hashes`` of the hub configuration or keys in ``LIENTHONG_OPERATOR_KEYS``. With no
key at all the operator API refuses every request.
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from gateway.errors import GatewayError, IllegalTransitionError, NotFoundError
from gateway.ledger.models import Message
from gateway.ledger.operators import OperatorKeyChecker
from gateway.ledger.queries import list_messages, message_timeline
from gateway.server.hub import HubService


class RetryRequest(BaseModel):
    reason: str = Field(min_length=3, description="why the message is retried; kept in the audit trail")


def build_operator_router(hub: HubService) -> APIRouter:
    checker = OperatorKeyChecker(hub.ledger, hub.settings.operator_key_hashes)

    def operator(x_api_key: Annotated[str | None, Header()] = None) -> str:
        if not x_api_key:
            raise HTTPException(401, "operator API key required (X-API-Key)")
        try:
            who = checker.identify(x_api_key)
        except GatewayError as exc:
            raise HTTPException(503, f"cannot check the operator key now: {exc}") from exc
        if who is None:
            raise HTTPException(401, "unknown or revoked operator API key")
        return who

    router = APIRouter(prefix="/api/v1", tags=["operator"])
    Operator = Annotated[str, Depends(operator)]

    @router.get("/messages", summary="List and filter messages")
    async def messages_endpoint(
        _: Operator,
        document_id: str | None = None,
        organ: Annotated[str | None, Query(description="sender or recipient OrganId")] = None,
        state: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        def run() -> list[dict[str, Any]]:
            return list_messages(
                hub.ledger, document_id=document_id, organ=organ, state=state, since=since, until=until, limit=limit
            )

        return {"messages": await run_in_threadpool(run)}

    @router.get("/messages/{doc_id}", summary="One message and its timeline")
    async def timeline(doc_id: str, _: Operator) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            return message_timeline(hub.ledger, doc_id)

        try:
            return await run_in_threadpool(run)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc

    @router.get(
        "/documents/{document_id:path}/history",
        summary="A document's submissions, business operations and statuses, in order",
    )
    async def history(document_id: str, _: Operator) -> dict[str, Any]:
        from gateway.ledger.business import document_history

        rows = await run_in_threadpool(document_history, hub.ledger, document_id)
        return {"document_id": document_id, "history": rows}

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
                    select(Message.sender, Message.state, func.count()).group_by(Message.sender, Message.state)
                ).all()
            out: dict[str, dict[str, int]] = {}
            for sender, state, count in rows:
                out.setdefault(sender, {})[state] = int(count)
            return {"agencies": out}

        return await run_in_threadpool(run)

    return router


__all__ = ["build_operator_router"]
