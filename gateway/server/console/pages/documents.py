"""``/console/documents`` (search), ``/console/documents/{id}`` (journey), its downloads and retry.

The retry form posts to ``/console/documents/{docId}/retry`` with a required reason; it uses the
ledger's own :meth:`Ledger.requeue` (the operator API's retry), so the state change and its
reason land in the audit trail with the operator's name and show on the journey page.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gateway.errors import GatewayError, IllegalTransitionError, NotFoundError
from gateway.ledger.states import State
from gateway.server.console.auth import Session
from gateway.server.console.downloads import download, safe_filename
from gateway.server.console.evidence import EvidenceCache
from gateway.server.console.journey import load_journey
from gateway.server.console.search import STATES, DocumentQuery, search_documents
from gateway.server.console.web import PREFIX, Console, redirect

log = logging.getLogger("lienthong.console")
RETRYABLE = {State.FAILED.value, State.DEAD.value}
MIN_REASON = 3
MAX_REASON = 500
ERRORS = {"reason_required", "not_retryable", "retry_failed"}


def router(console: Console) -> APIRouter:
    r = APIRouter(prefix=f"{PREFIX}/documents", include_in_schema=False)
    hub = console.hub
    evidence = EvidenceCache(hub.blobs, hub.settings)
    console.caches["evidence"] = evidence

    def not_found(request: Request, session: Session) -> Response:
        return console.render(request, "error.html", session=session, status_code=404, message_key="not_found")

    @r.get("")
    async def documents(request: Request) -> Response:
        session = console.session(request)
        query = DocumentQuery.from_params(request.query_params)
        rows, next_before = await run_in_threadpool(search_documents, hub.ledger, query)
        return console.render(
            request,
            "documents.html",
            session=session,
            page="documents",
            q=query,
            rows=rows,
            next_before=next_before,
            states=STATES,
        )

    @r.get("/{ident}")
    async def journey(request: Request, ident: str, notice: str = "", error: str = "") -> Response:
        session = console.session(request)
        try:
            j = await run_in_threadpool(load_journey, hub.ledger, ident)
        except NotFoundError:
            return not_found(request, session)
        ev = await run_in_threadpool(evidence.evidence, j.submission.payload_sha256) if j.submission else None
        return console.render(
            request,
            "journey.html",
            session=session,
            page="documents",
            j=j,
            ev=ev,
            retryable=RETRYABLE,
            notice=notice if notice in {"retried"} else "",
            error=error if error in ERRORS else "",
        )

    @r.get("/{ident}/edxml")
    async def package(request: Request, ident: str) -> Response:
        console.session(request)
        try:
            j = await run_in_threadpool(load_journey, hub.ledger, ident)
            if j.submission is None:
                raise NotFoundError(ident)
            data = await run_in_threadpool(evidence.package_bytes, j.submission.payload_sha256)
        except (GatewayError, OSError):
            return Response("not found", status_code=404, media_type="text/plain")
        name = safe_filename(f"{j.focus.code or j.document_id}.edxml".replace("/", "-"), "package.edxml")
        return download(data, name, "application/octet-stream")

    @r.get("/{ident}/attachments/{index}")
    async def attachment(request: Request, ident: str, index: int) -> Response:
        console.session(request)
        try:
            j = await run_in_threadpool(load_journey, hub.ledger, ident)
            if j.submission is None:
                raise NotFoundError(ident)
            name, ctype, data = await run_in_threadpool(evidence.attachment_bytes, j.submission.payload_sha256, index)
        except (GatewayError, OSError, IndexError):
            return Response("not found", status_code=404, media_type="text/plain")
        return download(data, name, ctype)

    @r.post("/{ident}/retry")
    async def retry(request: Request, ident: str) -> Response:
        session = console.session(request)
        form = await console.form(request, session)
        raw = form.get("reason")
        reason = raw.strip()[:MAX_REASON] if isinstance(raw, str) else ""
        back = str(form.get("back") or "journey")
        target = f"{PREFIX}/documents/{ident}" if back != "failures" else f"{PREFIX}/failures"
        if len(reason) < MIN_REASON:
            return redirect(f"{target}?error=reason_required")
        try:
            await run_in_threadpool(hub.ledger.requeue, ident, reason=reason, actor=session.operator)
        except NotFoundError:
            return not_found(request, session)
        except IllegalTransitionError:
            return redirect(f"{target}?error=not_retryable")
        except GatewayError:
            log.exception("console retry failed", extra={"doc_id": ident})
            return redirect(f"{target}?error=retry_failed")
        hub.work_available.set()  # the requeue's audit entry names the operator and the reason
        return redirect(f"{target}?notice=retried")

    return r


__all__ = ["router"]
