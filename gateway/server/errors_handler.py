"""No error path of the hub answers a plain-text 500 or shows the server's paths or internals.

Two pieces:

* :func:`public_error` turns an error about to be answered into one fit for the client: an
  out-of-space failure becomes :class:`~gateway.errors.DiskFullError` (503, retry later), and
  blob store or ledger failures that are the hub's own problem lose their details (paths, SQL,
  driver messages) — the details go to the server log, with a reference the answer quotes.
* :class:`CatchAllMiddleware` (pure ASGI, inside Starlette's error middleware) catches any
  exception a handler did not: axis operations answer the standard FAIL JSON
  (:func:`gateway.server.axis_api.fail`, the one builder of that shape), ``/legacy`` a SOAP
  ``Server`` fault, everything else a JSON error; all with HTTP 500, a generic ErrorDesc and a
  reference, while the traceback is logged with the request's DocumentId when it is known.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import (
    BlobStoreError,
    ConflictError,
    DiskFullError,
    GatewayError,
    IllegalTransitionError,
    LedgerError,
    NotFoundError,
)
from gateway.server.diskguard import is_disk_full

log = logging.getLogger("lienthong.errors")

_DOCUMENT_ID = re.compile(rb"<(?:[\w-]+:)?DocumentId>\s*([^<]{1,600}?)\s*</", re.ASCII)
BODY_HEAD_KEY = "lienthong.body_head"
"""``scope["state"]`` key under which the axis API keeps the first bytes of a body (for the log)."""


def reference() -> str:
    return uuid.uuid4().hex[:12]


def sniff_document_id(head: bytes | None) -> str | None:
    """The DocumentId of a package from its first bytes, for logging only (never trusted)."""
    if not head:
        return None
    m = _DOCUMENT_ID.search(head)
    return m.group(1).decode("utf-8", "replace")[:600] if m else None


def public_error(exc: GatewayError, *, document_id: str | None = None) -> GatewayError:
    """The error to answer instead of ``exc``: no paths, SQL or driver text for the hub's own faults."""
    if isinstance(exc, DiskFullError):
        return exc
    if is_disk_full(exc):
        log.error("out of space: %s", exc, extra={"document_id": document_id})
        return DiskFullError("the hub's storage is full; retry later")
    if isinstance(exc, BlobStoreError) or (
        isinstance(exc, LedgerError) and not isinstance(exc, (ConflictError, NotFoundError, IllegalTransitionError))
    ):
        ref = reference()
        log.error("internal %s (reference %s): %s", type(exc).__name__, ref, exc, extra={"document_id": document_id})
        kind = "blob store" if isinstance(exc, BlobStoreError) else "ledger"
        cls = BlobStoreError if isinstance(exc, BlobStoreError) else LedgerError
        return cls(f"internal {kind} error (reference {ref})", retryable=exc.retryable)
    return exc


class CatchAllMiddleware:
    """Answer any unhandled exception with the endpoint's own error format (see the module doc)."""

    def __init__(self, app: ASGIApp, axis_paths: Iterable[str]):
        self.app = app
        self.axis_paths = frozenset(axis_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:  # too late for an answer: let the server drop the connection
                raise
            ref = reference()
            path = str(scope.get("path", ""))
            head = (scope.get("state") or {}).get(BODY_HEAD_KEY)
            log.exception(
                "unhandled error on %s (reference %s): %s",
                path,
                ref,
                type(exc).__name__,
                extra={"document_id": sniff_document_id(head), "path": path},
            )
            response = self.answer(path, ref)
            await response(scope, receive, send)

    def answer(self, path: str, ref: str) -> Response:
        desc = f"internal error (reference {ref}); the hub logged it"
        if path in self.axis_paths:
            from gateway.server.axis_api import fail

            return fail(500, desc)
        if path.startswith("/legacy/"):
            from gateway.transport.soap_push import soap_fault

            fault = soap_fault("Server", desc, status=500)
            return Response(fault.body, status_code=500, media_type=fault.content_type)
        return JSONResponse({"status": "FAIL", "ErrorCode": "500", "ErrorDesc": desc}, status_code=500)


__all__ = ["BODY_HEAD_KEY", "CatchAllMiddleware", "public_error", "sniff_document_id"]
