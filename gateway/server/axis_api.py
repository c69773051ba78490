"""The axis-compatible HTTP API (same paths, headers and JSON as the national axis, §6 of the doc).

Every call is authenticated with the SDK's HMAC headers; the handler then uses only the signed
values. Answers have the axis shape ``{"status": "OK"|"FAIL", "ErrorCode", "ErrorDesc", ...}``.
Failures also carry a meaningful HTTP status (401 bad or missing signature, 403 OrganId not
registered, 404, 409 conflict or loop, 413 too large, 422 invalid package or no route, 503 ledger
busy) so that clients other than the SDK can tell retryable failures from refusals; the SDK itself
only reads the JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from gateway.errors import (
    AuthorizationError,
    ConflictError,
    GatewayError,
    NotFoundError,
    RemoteRefusalError,
    SchemaValidationError,
    XmlError,
)
from gateway.ledger import SystemInfo
from gateway.server.errors_handler import BODY_HEAD_KEY, public_error
from gateway.server.hub import BadRequestError, HubService, OrganNotAllowedError, PayloadTooLargeError
from gateway.server.routing import LoopError
from gateway.transport.hmac_auth import VerifiedRequest, verify_headers

log = logging.getLogger("lienthong.axis")


class _NotCached(Exception):
    """The system's credentials are not in the ledger's cache: look them up in a worker thread."""


def ok(**fields: Any) -> JSONResponse:
    return JSONResponse({"status": "OK", "ErrorCode": "0", "ErrorDesc": "", **fields})


def fail(http_status: int, message: str, code: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"status": "FAIL", "ErrorCode": code or str(http_status), "ErrorDesc": message},
        status_code=http_status,
    )


def error_response(exc: GatewayError) -> JSONResponse:
    """Map the gateway's exception tree onto axis FAIL answers (messages never contain secrets)."""
    if isinstance(exc, OrganNotAllowedError):
        return fail(403, str(exc))
    if isinstance(exc, AuthorizationError):
        return fail(401, str(exc))
    if isinstance(exc, PayloadTooLargeError):
        return fail(413, str(exc))
    if isinstance(exc, NotFoundError):
        return fail(404, str(exc))
    if isinstance(exc, LoopError):
        return fail(409, str(exc), exc.code)
    if isinstance(exc, ConflictError):
        return fail(409, str(exc))
    if isinstance(exc, RemoteRefusalError):
        return fail(422, str(exc), exc.code)
    if isinstance(exc, (SchemaValidationError, XmlError, BadRequestError)):
        return fail(422 if not isinstance(exc, BadRequestError) else 400, str(exc))
    if exc.retryable:
        return fail(503, f"temporarily unavailable: {exc}")
    return fail(500, str(exc))


def build_router(hub: HubService) -> APIRouter:
    router = APIRouter(tags=["axis"])
    settings = hub.settings

    def authenticate(headers: Any, *, cached_only: bool = False) -> tuple[VerifiedRequest, SystemInfo]:
        """Check the SDK signature; ``cached_only`` raises :class:`_NotCached` instead of reading the DB."""
        infos: dict[str, SystemInfo | None] = {}

        def secret_for(system_id: str) -> str | None:
            if cached_only:
                hit = hub.ledger.cached_credentials(system_id)
                if hit is None:
                    raise _NotCached
                secret, info = hit
            else:
                secret, info = hub.ledger.system_credentials(system_id)
            infos[system_id] = info
            return secret

        verified = verify_headers(
            headers,
            secret_for,
            window_seconds=settings.timestamp_window_seconds,
            utc_offset_minutes=settings.timestamp_utc_offset_minutes,
        )
        info = infos.get(verified.system_id)
        if info is None:  # pragma: no cover - verify_headers already refused unknown systems
            raise AuthorizationError(f"unknown system {verified.system_id!r}")
        return verified, info

    async def read_body(request: Request) -> bytes:
        limit = settings.max_request_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLargeError(f"request body of {declared} bytes is over the limit of {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(f"request body is over the limit of {limit} bytes")
            chunks.append(chunk)
        body = b"".join(chunks)
        request.scope.setdefault("state", {})[BODY_HEAD_KEY] = body[:8192]  # for the catch-all's log line only
        return body

    Handler = Callable[[Request, VerifiedRequest, SystemInfo], Awaitable[Response]]

    def endpoint(op: str, methods: tuple[str, ...] = ("POST",)) -> Callable[[Handler], Handler]:
        def wrap(fn: Handler) -> Handler:
            async def handle(request: Request) -> Response:
                try:
                    try:  # pure CPU when the system's credentials are cached: no thread hop
                        verified, system = authenticate(request.headers, cached_only=True)
                    except _NotCached:
                        verified, system = await run_in_threadpool(authenticate, request.headers)
                    return await fn(request, verified, system)
                except GatewayError as exc:
                    exc = public_error(exc, document_id=getattr(exc, "document_id", None))
                    response = error_response(exc)
                    log.warning(
                        "%s refused: %s",
                        op,
                        exc,
                        extra={
                            "operation": op,
                            "http_status": response.status_code,
                            "document_id": getattr(exc, "document_id", None),
                        },
                    )
                    return response

            router.add_api_route(
                f"/{op}", handle, methods=list(methods), name=op, include_in_schema=True, summary=f"axis {op}"
            )
            return fn

        return wrap

    @endpoint("sendEdoc")
    async def send_edoc(request: Request, v: VerifiedRequest, system: SystemInfo) -> Response:
        body = await read_body(request)
        doc_id = await hub.accept_async(body, v, system)
        return ok(DocId=doc_id)

    @endpoint("getReceivedEdocList", ("POST", "GET"))
    async def received_list(request: Request, v: VerifiedRequest, system: SystemInfo) -> Response:
        data = await run_in_threadpool(
            hub.inbox, system, (v.get("messagetype") or "edoc").lower(), v.get("fromDate"), v.get("toDate")
        )
        return ok(data=data)

    def need_doc_id(v: VerifiedRequest) -> str:
        doc_id = v.get("docid")
        if not doc_id:
            raise BadRequestError("the signed headers carry no docId")
        return doc_id

    @endpoint("getEdoc")
    async def get_edoc(request: Request, v: VerifiedRequest, system: SystemInfo) -> Response:
        data = await run_in_threadpool(hub.fetch_base64, system, need_doc_id(v))
        return ok(data=data)

    @endpoint("downloadEdoc", ("GET", "POST"))
    async def download_edoc(request: Request, v: VerifiedRequest, system: SystemInfo) -> Response:
        data = await run_in_threadpool(hub.fetch, system, need_doc_id(v))
        return Response(content=data, media_type="application/octet-stream")

    @endpoint("updateStatus")
    async def update_status(request: Request, v: VerifiedRequest, system: SystemInfo) -> Response:
        await run_in_threadpool(
            hub.update_status, system, need_doc_id(v), v.get("status") or "", v.get("description")
        )
        return ok()

    @endpoint("getSentEdocList", ("POST", "GET"))
    async def sent_list(request: Request, v: VerifiedRequest, system: SystemInfo) -> Response:
        data = await run_in_threadpool(hub.sent_list, system, v.get("messagetype"), v.get("docid"))
        return ok(data=data)

    @endpoint("countReceiveEdoc", ("GET", "POST"))
    async def count_edoc(request: Request, v: VerifiedRequest, system: SystemInfo) -> Response:
        return ok(count=await run_in_threadpool(hub.count_inbox, system, "edoc"))

    @endpoint("countReceiveStatus", ("GET", "POST"))
    async def count_status(request: Request, v: VerifiedRequest, system: SystemInfo) -> Response:
        return ok(count=await run_in_threadpool(hub.count_inbox, system, "status"))

    for op in ("getAgenciesList", "getAgenciesListQD20", "getSynchronizeUnit"):

        @endpoint(op, ("POST", "GET"))
        async def agencies(request: Request, v: VerifiedRequest, system: SystemInfo) -> Response:
            return ok(data=await run_in_threadpool(hub.agencies))

    return router


__all__ = ["build_router", "error_response"]
