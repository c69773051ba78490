"""``/console/failures``: dead letters (DEAD) and messages waiting for a retry (FAILED), newest first.

Each row has the retry form (reason required); see :mod:`gateway.server.console.pages.documents`.
"""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gateway.ledger.models import Message
from gateway.ledger.states import State
from gateway.server.console.search import DocumentQuery, search_documents
from gateway.server.console.web import PREFIX, Console

ERRORS = {"reason_required", "not_retryable", "retry_failed"}


def router(console: Console) -> APIRouter:
    r = APIRouter(prefix=PREFIX, include_in_schema=False)
    ledger = console.hub.ledger

    def errors_of(doc_ids: list[str]) -> dict[str, str]:
        from sqlalchemy import select

        with ledger.reader() as s:
            return {
                str(d): str(e or "")
                for d, e in s.execute(select(Message.doc_id, Message.last_error).where(Message.doc_id.in_(doc_ids)))
            }

    @r.get("/failures")
    async def failures(request: Request, notice: str = "", error: str = "") -> Response:
        session = console.session(request)
        base = DocumentQuery.from_params(request.query_params)
        dead, _ = await run_in_threadpool(search_documents, ledger, replace(base, state=State.DEAD.value, type=""))
        failed, _ = await run_in_threadpool(search_documents, ledger, replace(base, state=State.FAILED.value, type=""))
        last_errors = await run_in_threadpool(errors_of, [m.doc_id for m in dead + failed])
        return console.render(
            request,
            "failures.html",
            session=session,
            page="failures",
            dead=dead,
            failed=failed,
            last_errors=last_errors,
            notice="retried" if notice == "retried" else "",
            error=error if error in ERRORS else "",
            limit=base.limit,
        )

    return r


__all__ = ["router"]
