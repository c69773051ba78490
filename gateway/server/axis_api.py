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
import re
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
    RecipientError,
    RemoteRefusalError,
    RequestRefusedError,
    SchemaValidationError,
    XmlError,
)
from gateway.ledger import SystemInfo, replay_cache
from gateway.server import replay
from gateway.server.errors_handler import BODY_HEAD_KEY, public_error
from gateway.server.hub import BadRequestError, HubService, OrganNotAllowedError, PayloadTooLargeError
from gateway.server.routing import LoopError, NoRouteError
from gateway.server.sdk_answers import AsciiJSONResponse, fail_answer, ok_answer
from gateway.transport.hmac_auth import VerifiedRequest, verify_headers

log = logging.getLogger("lienthong.axis")


class _NotCached(Exception):
    """The system's credentials are not in the ledger's cache: look them up in a worker thread."""


def ok(**fields: Any) -> JSONResponse:
    """An OK answer with exactly the given fields (the operation's own shape: :func:`ok_answer`)."""
    return AsciiJSONResponse({"status": "OK", "ErrorCode": "0", "ErrorDesc": "", **fields})


def fail(http_status: int, message: str, code: str | None = None, operation: str = "") -> Response:
    return fail_answer(operation, http_status, message, code)


def http_status_of(exc: GatewayError) -> tuple[int, str | None]:
    """HTTP status and axis ErrorCode for a refusal (messages never contain secrets)."""
    if isinstance(exc, RequestRefusedError):
        return exc.http_status, None
    if isinstance(exc, OrganNotAllowedError):
        return 403, None
    if isinstance(exc, AuthorizationError):
        return 401, None
    if isinstance(exc, PayloadTooLargeError):
        return 413, None
    if isinstance(exc, NotFoundError):
        return 404, None
    if isinstance(exc, LoopError):
        return 409, exc.code
    if isinstance(exc, ConflictError):
        return 409, None
    if isinstance(exc, RemoteRefusalError):
        return 422, exc.code
    if isinstance(exc, BadRequestError):
        return 400, None
    if isinstance(exc, (SchemaValidationError, XmlError)):
        return 422, None
    if exc.retryable:
        return 503, None
    return 500, None


def refusal_reason(exc: GatewayError) -> str:
    """A short label per kind of refusal, for the log line and ``lienthong_refusals_total``."""
    if isinstance(exc, RequestRefusedError):
        return exc.reason
    text = str(exc)
    for cls, label in (
        (OrganNotAllowedError, "organ_not_allowed"),
        (PayloadTooLargeError, "too_large"),
        (NotFoundError, "not_found"),
        (LoopError, "loop"),
        (NoRouteError, "no_route"),
        (ConflictError, "conflict"),
        (RecipientError, "recipient_not_in_package"),
        (BadRequestError, "bad_request"),
    ):
        if isinstance(exc, cls):
            return label
    if isinstance(exc, AuthorizationError):
        for needle, label in (
            ("bad signature", "bad_signature"),
            ("unknown system", "unknown_system"),
            ("twice with different values", "header_case_conflict"),
            ("differs from its signed value", "header_mismatch"),
            ("timestamp", "timestamp_format"),
        ):
            if needle in text:
                return label
        return "unauthenticated"
    if "hash-file" in text:
        return "hash_file_mismatch"
    if isinstance(exc, (SchemaValidationError, XmlError)):
        return "invalid_package"
    return "unavailable" if exc.retryable else "error"


def error_response(exc: GatewayError, operation: str = "") -> Response:
    """Map the gateway's exception tree onto the operation's FAIL answer."""
    status, code = http_status_of(exc)
    message = f"temporarily unavailable: {exc}" if status == 503 else str(exc)
    return fail_answer(operation, status, message, code)


_DOCUMENT_ID = re.compile(rb"<(?:[\w.\-]+:)?DocumentId\s*>\s*([^<]{1,512}?)\s*</", re.S)


def document_id_hint(body: bytes | None) -> str | None:
    """The first DocumentId of a refused package (MessageHeader's, or ResponseFor's), for the log."""
    if not body:
        return None
    m = _DOCUMENT_ID.search(body[:65536])
    return m.group(1).decode("utf-8", "replace") if m else None


def build_router(hub: HubService) -> APIRouter:
    router = APIRouter(tags=["axis"])
    settings = hub.settings

    def authenticate(
        headers: Any, operation: str, seen: dict[str, str], *, cached_only: bool = False
    ) -> tuple[VerifiedRequest, SystemInfo]:
        """Check the SDK signature, then what it may do here (:mod:`gateway.server.replay`).

        ``cached_only`` raises :class:`_NotCached` instead of reading the DB; ``seen["system"]``
        names the registered system the request claims, for the refusal counters.
        """
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
            if info is not None:
                seen["system"] = system_id
            return secret

        verified = verify_headers(
            headers,
            secret_for,
            window_seconds=None,
            utc_offset_minutes=settings.timestamp_utc_offset_minutes,
        )
        info = infos.get(verified.system_id)
        if info is None:  # pragma: no cover - verify_headers already refused unknown systems
            raise AuthorizationError(f"unknown system {verified.system_id!r}")
        clock = hub.clocks.cached(verified.system_id) if cached_only else hub.clocks.get(verified.system_id)
        if clock is None:
            raise _NotCached
        replay.check_binding(operation, verified)
        replay.check_timestamp(operation, verified, clock, settings)
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
        request.state.body = body
        request.scope.setdefault("state", {})[BODY_HEAD_KEY] = body[:8192]  # for the catch-all's log line
        return body

    def count_refusal(system_id: str, reason: str) -> None:
        if hub.refusals.add(system_id, reason):
            try:
                hub.refusals.flush()
            except GatewayError as exc:  # counters must never turn a refusal into a 500
                log.warning("refusal counters not stored: %s", exc, extra={"document_id": None})

    Handler = Callable[[Request, VerifiedRequest, SystemInfo], Awaitable[Response]]

    def endpoint(op: str, methods: tuple[str, ...] = ("POST",)) -> Callable[[Handler], Handler]:
        def wrap(fn: Handler) -> Handler:
            async def handle(request: Request) -> Response:
                seen: dict[str, str] = {}
                try:
                    try:  # pure CPU when the system's credentials are cached: no thread hop
                        verified, system = authenticate(request.headers, op, seen, cached_only=True)
                    except _NotCached:
                        verified, system = await run_in_threadpool(authenticate, request.headers, op, seen)
                    return await fn(request, verified, system)
                except GatewayError as exc:
                    exc = public_error(exc, document_id=getattr(exc, "document_id", None))
                    response = error_response(exc, op)
                    reason = refusal_reason(exc)
                    system_id = seen.get("system", "-")
                    document_id = getattr(exc, "document_id", None) or document_id_hint(
                        getattr(request.state, "body", None)
                    )
                    log.warning(
                        "%s refused for system %s (%s): %s",
                        op,
                        system_id,
                        reason,
                        exc,
                        extra={
                            "operation": op,
                            "http_status": response.status_code,
                            "document_id": document_id,
                            "system_id": system_id,
                            "reason": reason,
                        },
                    )
                    await run_in_threadpool(count_refusal, system_id, reason)
                    return response

            router.add_api_route(
                f"/{op}", handle, methods=list(methods), name=op, include_in_schema=True, summary=f"axis {op}"
            )
            return fn

        return wrap

    @endpoint("sendEdoc")
    async def send_edoc(request: Request, v: VerifiedRequest, system: SystemInfo) -> Response:
        body = await read_body(request)
        clock = hub.clocks.cached(system.system_id) or replay_cache.Clock()
        if replay.is_stale(v, clock, settings):  # an old timestamp: a long-lived instance, or a replay
            cached = await run_in_threadpool(replay_cache.lookup, hub.ledger, system.system_id, v.signature)
            replay.replayed_elsewhere("sendEdoc", cached)
            if cached is not None and cached[1]:
                log.info("sendEdoc replayed: answered with the recorded DocId", extra={"document_id": None})
                return ok_answer("sendEdoc", DocId=cached[1])
        doc_id, note = await hub.accept_answer(body, v, system)
        return ok_answer("sendEdoc", DocId=doc_id, ErrorDesc=note)

    @endpoint("getReceivedEdocList", ("POST", "GET"))
    async def received_list(request: Request, v: VerifiedRequest, system: SystemInfo) -> Response:
        data = await run_in_threadpool(
            hub.inbox, system, (v.get("messagetype") or "edoc").lower(), v.get("fromDate"), v.get("toDate")
        )
        return ok_answer("getReceivedEdocList", data=data)

    def need_doc_id(v: VerifiedRequest) -> str:
        doc_id = v.get("docid")
        if not doc_id:
            raise BadRequestError("the signed headers carry no docId")
        return doc_id

    @endpoint("getEdoc")
    async def get_edoc(request: Request, v: VerifiedRequest, system: SystemInfo) -> Response:
        data = await run_in_threadpool(hub.fetch_base64, system, need_doc_id(v))
        return ok_answer("getEdoc", data=data)

    @endpoint("downloadEdoc", ("GET", "POST"))
    async def download_edoc(request: Request, v: VerifiedRequest, system: SystemInfo) -> Response:
        data = await run_in_threadpool(hub.fetch, system, need_doc_id(v))
        return Response(content=data, media_type="application/octet-stream")

    @endpoint("updateStatus")
    async def update_status(request: Request, v: VerifiedRequest, system: SystemInfo) -> Response:
        await run_in_threadpool(
            hub.update_status, system, need_doc_id(v), v.get("status") or "", v.get("description"), v.signature
        )
        return ok_answer("updateStatus")

    @endpoint("getSentEdocList", ("POST", "GET"))
    async def sent_list(request: Request, v: VerifiedRequest, system: SystemInfo) -> Response:
        data = await run_in_threadpool(hub.sent_list, system, v.get("messagetype"), v.get("docid"))
        return ok_answer("getSentEdocList", data=data)

    @endpoint("countReceiveEdoc", ("GET", "POST"))
    async def count_edoc(request: Request, v: VerifiedRequest, system: SystemInfo) -> Response:
        return ok_answer("countReceiveEdoc", count=await run_in_threadpool(hub.count_inbox, system, "edoc"))

    @endpoint("countReceiveStatus", ("GET", "POST"))
    async def count_status(request: Request, v: VerifiedRequest, system: SystemInfo) -> Response:
        return ok_answer("countReceiveStatus", count=await run_in_threadpool(hub.count_inbox, system, "status"))

    for op in ("getAgenciesList", "getAgenciesListQD20", "getSynchronizeUnit"):

        def make(name: str) -> Handler:
            async def agencies(request: Request, v: VerifiedRequest, system: SystemInfo) -> Response:
                return ok_answer(name, data=await run_in_threadpool(hub.agencies))

            return agencies

        endpoint(op, ("POST", "GET"))(make(op))

    for op in ("registerAgency", "deleteAgency"):

        def refuse(name: str) -> Handler:
            async def agency_change(request: Request, v: VerifiedRequest, system: SystemInfo) -> Response:
                raise RequestRefusedError(
                    f"{name} is not offered by this hub: the agency directory is kept by its operator "
                    "(directory_file, `lienthong systems add`); ask the hub operator to add or remove the agency",
                    reason="agency_change_refused",
                    http_status=403,
                )

            return agency_change

        endpoint(op)(refuse(op))

    return router


__all__ = ["build_router", "document_id_hint", "error_response", "http_status_of", "refusal_reason"]
