"""Legacy SOAP push mounted in the hub: ``GET /legacy/{adapter}?wsdl`` and ``POST /legacy/{adapter}``.

Legacy systems that cannot speak the axis protocol push SOAP 1.1 batches in their own dialect to
the endpoint of their push-capable adapter (:class:`gateway.transport.soap_push.SoapPushService`).
Every translated document is then handled exactly like a sendEdoc package from that system
(:meth:`HubService.accept_recorded`): the same checks (it must parse as edXML and its sender must be an
OrganId the system is registered for), the same idempotency, routing, trace hop and audit, with
the adapter's code recorded on the messages. The answer carries one receipt per document; a
refused or untranslatable document never affects the others.

Authentication: HTTP Basic with the connected system's id and secret (the same credentials as its
axis HMAC signature, ``lienthong systems add``). Basic is what legacy SOAP stacks (.NET WCF
``basicHttpBinding``, Java JAX-WS, zeep) support without extra libraries; like WS-Security
UsernameToken with a clear password it must travel over TLS (terminate TLS in front of the hub).
The WSDL and its XSD (``?wsdl``, ``?xsd``) are public: they describe the interface, not data.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import logging
from collections.abc import Callable
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gateway.adapters.discovery import AdapterRegistry
from gateway.adapters.report import DocumentResult
from gateway.errors import AuthorizationError, ConfigurationError, GatewayError, RequestBudgetError
from gateway.ledger import SystemInfo
from gateway.limits import DEFAULT_INPUT_LIMITS, InputLimits
from gateway.server.hub import HubService
from gateway.server.sandbox import Sandbox
from gateway.transport.hmac_auth import VerifiedRequest
from gateway.transport.soap_push import Receipt, Sink, SoapPushService, SoapResponse, Translated, soap_fault

log = logging.getLogger("lienthong.legacy")

REALM = 'Basic realm="lienthong legacy push", charset="UTF-8"'


def basic_credentials(header: str | None) -> tuple[str, str]:
    """``Authorization: Basic …`` → (system id, secret); :class:`AuthorizationError` if absent or malformed."""
    if not header or not header[:6].lower() == "basic ":
        raise AuthorizationError("HTTP Basic authentication with the system id and secret is required")
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise AuthorizationError("the Basic credentials are not valid base64 of UTF-8 'id:secret'") from exc
    system_id, sep, secret = decoded.partition(":")
    if not sep or not system_id:
        raise AuthorizationError("the Basic credentials must be 'system id:secret'")
    return system_id, secret


_CHILD_REGISTRIES: dict[InputLimits, AdapterRegistry] = {}


def warm_registry(limits: InputLimits = DEFAULT_INPUT_LIMITS) -> AdapterRegistry:
    """Sandbox warm-up: discover the adapters (and load the push-capable ones) once per worker and
    budget; the hub's ``[limits]`` reach the adapters through ``limits`` (a frozen, hashable value)."""
    registry = _CHILD_REGISTRIES.get(limits)
    if registry is None:
        registry = _CHILD_REGISTRIES[limits] = AdapterRegistry(limits=limits)
        for code in registry.codes():
            try:
                registry.get(code)
            except GatewayError:
                continue
    return registry


def translate_push(
    adapter: str, body: bytes, soap_action: str | None, limits: InputLimits = DEFAULT_INPUT_LIMITS
) -> SoapResponse | Translated:
    """Runs in a sandbox process: parse and translate one batch with the adapter registry of ``limits``."""
    registry = warm_registry(limits)
    return SoapPushService(registry, LegacyPushEndpoint._unbound_sink).translate(adapter, body, soap_action)


class LegacyPushEndpoint:
    """Authenticates the legacy caller and turns each translated document into a hub submission.

    With the default adapter registry, translation runs in a :class:`Sandbox` process under the
    ``request_cpu_seconds`` budget (``translate_fn`` is what it runs; tests swap it). An endpoint
    given its own ``registry`` translates in-process (the registry's adapters may not be
    discoverable from a fresh interpreter).
    """

    translate_fn: Callable[[str, bytes, str | None, InputLimits], SoapResponse | Translated] = staticmethod(
        translate_push
    )

    def __init__(self, hub: HubService, registry: AdapterRegistry | None = None):
        self.hub = hub
        self._registry = registry
        self.sandbox = (
            Sandbox(
                size=2,
                budget_seconds=hub.settings.request_cpu_seconds,
                warmup=functools.partial(warm_registry, hub.settings.limits),
            )
            if registry is None
            else None
        )

    @property
    def registry(self) -> AdapterRegistry:
        if self._registry is None:  # adapter discovery is not free: only once a legacy system calls
            self._registry = AdapterRegistry(limits=self.hub.settings.limits)
        return self._registry

    @property
    def service(self) -> SoapPushService:
        """For the WSDL and XSD, which need no caller."""
        return SoapPushService(self.registry, self._unbound_sink)

    @staticmethod
    def _unbound_sink(result: DocumentResult) -> Receipt:  # pragma: no cover - never reached by wsdl()
        raise ConfigurationError("legacy push sink used without an authenticated system")

    def authenticate(self, authorization: str | None) -> SystemInfo:
        system_id, given = basic_credentials(authorization)
        secret, info = self.hub.ledger.system_credentials(system_id)
        # compare even for unknown systems, so timing does not reveal which ids exist
        good = hmac.compare_digest((secret or "\x00unknown").encode(), given.encode())
        if secret is None or info is None or not good:
            raise AuthorizationError(f"bad credentials for system {system_id!r}")
        return info

    def handle(
        self, adapter: str, body: bytes, soap_action: str | None, authorization: str | None
    ) -> tuple[SoapResponse, dict[str, str]]:
        """Answer one POST: a 401 fault without valid credentials, else the service's answer."""
        try:
            system = self.authenticate(authorization)
        except AuthorizationError as exc:
            fault = soap_fault("Client", str(exc), status=401)
            return fault, {"WWW-Authenticate": REALM}
        return self.handle_for(system, adapter, body, soap_action), {}

    def handle_for(self, system: SystemInfo, adapter: str, body: bytes, soap_action: str | None) -> SoapResponse:
        """Translate (in the sandbox, under the time budget) then record each document."""
        created: list[str] = []
        service = SoapPushService(self.registry, self._sink_for(system, adapter, created))
        if self.sandbox is None:
            translated = service.translate(adapter, body, soap_action)
        else:
            try:
                translated = self.sandbox.run(
                    type(self).translate_fn, adapter, body, soap_action, self.hub.settings.limits
                )
            except GatewayError as exc:
                log.warning(
                    "legacy push refused: %s", exc, extra={"system_id": system.system_id, "adapter": adapter}
                )
                if exc.retryable:
                    return soap_fault("Server", f"{exc} (retry later)", status=503)
                return soap_fault("Client", str(exc), status=422 if isinstance(exc, RequestBudgetError) else 500)
        answer = translated if isinstance(translated, SoapResponse) else service.respond(translated)
        if created and self.hub.asset_events is not None:  # stored (committed): tell Airflow, off this path
            self.hub.asset_events.notify(adapter, {"system_id": system.system_id, "documents": len(created),
                                                   "doc_ids": created[:50]})
        return answer

    def _sink_for(self, system: SystemInfo, adapter: str, created: list[str] | None = None) -> Sink:
        def sink(result: DocumentResult) -> Receipt:
            if result.edxml is None:
                raise ConfigurationError(f"adapter {adapter} produced no edXML bytes for document {result.index}")
            request = VerifiedRequest(system.system_id, {}, None)  # the package says what it is
            accepted = self.hub.accept_recorded(result.edxml, request, system, adapter=adapter)
            doc_id, is_new = accepted.doc_id, accepted.created
            if is_new and created is not None:
                created.append(doc_id)
            log.info(
                "legacy document %s",
                "accepted" if is_new else "already accepted (idempotent)",
                extra={"document_id": result.document_id, "doc_id": doc_id, "system_id": system.system_id,
                       "adapter": adapter},
            )
            return Receipt(True, doc_id, "accepted" if is_new else "already accepted")

        return sink


def build_legacy_router(hub: HubService, endpoint: LegacyPushEndpoint | None = None) -> APIRouter:
    router = APIRouter(tags=["legacy push"])
    legacy = endpoint or LegacyPushEndpoint(hub)

    def base_url(request: Request) -> str:
        """The push address named in the WSDL: ``public_url`` when configured, else the address the
        server is bound to (never the request's ``Host`` header, which the caller chooses)."""
        if hub.settings.public_url:
            return f"{hub.settings.public_url.rstrip('/')}/legacy/{quote(request.path_params['adapter'])}"
        host, port = request.scope.get("server") or ("127.0.0.1", 80)
        scheme = request.scope.get("scheme", "http")
        default = (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
        netloc = f"[{host}]" if ":" in str(host) else str(host)
        return f"{scheme}://{netloc}{'' if default else f':{port}'}{request.scope['path']}"

    @router.get("/legacy/{adapter}", summary="The adapter's push WSDL (?wsdl) or its legacy XSD (?xsd)")
    async def describe(adapter: str, request: Request) -> Response:
        try:
            if "xsd" in request.query_params:
                body = await run_in_threadpool(legacy.service.schema, adapter)
                return Response(body, media_type="text/xml; charset=utf-8")
            body = await run_in_threadpool(legacy.service.wsdl, adapter, base_url(request))
        except (ConfigurationError, GatewayError) as exc:
            fault = soap_fault("Client", str(exc), status=404)
            return Response(fault.body, status_code=fault.status, media_type=fault.content_type)
        return Response(body, media_type="text/xml; charset=utf-8")

    def as_response(fault: SoapResponse, headers: dict[str, str] | None = None) -> Response:
        return Response(fault.body, status_code=fault.status, media_type=fault.content_type, headers=headers)

    @router.post("/legacy/{adapter}", summary="SOAP 1.1 batch submission (HTTP Basic: system id and secret)")
    async def submit(adapter: str, request: Request) -> Response:
        # credentials first: an unauthenticated caller gets its 401 before one byte of the body is read
        try:
            system = await run_in_threadpool(legacy.authenticate, request.headers.get("authorization"))
        except AuthorizationError as exc:
            return as_response(soap_fault("Client", str(exc), status=401), {"WWW-Authenticate": REALM})
        limit = hub.settings.max_request_bytes
        too_big = as_response(soap_fault("Client", f"request body is over the limit of {limit} bytes", status=413))
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            return too_big
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return too_big
            chunks.append(chunk)
        answer = await run_in_threadpool(
            legacy.handle_for, system, adapter, b"".join(chunks), request.headers.get("soapaction")
        )
        return as_response(answer)

    return router


__all__ = ["LegacyPushEndpoint", "basic_credentials", "build_legacy_router", "translate_push"]
