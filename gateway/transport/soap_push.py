"""SOAP push: legacy systems submit batches to the gateway and get one receipt per document.

Framework-free on purpose: :class:`SoapPushService` takes bytes and returns a
:class:`SoapResponse`, so the hub's HTTP server (or the tiny test server) only forwards the
request.  Each push-capable adapter publishes its own WSDL (``transport.push_wsdl`` in its
manifest) with the address filled in.  A batch is translated document by document; good
documents go to ``sink`` (the hub records them in its ledger and returns a :class:`Receipt`),
bad ones get a rejection receipt naming path, line and what was expected.  An envelope that is
not SOAP 1.1, not well-formed, or not the submit operation gets a SOAP fault with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape

from lxml import etree

from gateway.adapters.adapter import Adapter
from gateway.adapters.discovery import AdapterRegistry
from gateway.adapters.report import DocumentResult
from gateway.errors import ConfigurationError, GatewayError
from gateway.xml import XmlLimits, parse_xml

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
XML_CT = "text/xml; charset=utf-8"
PUSH_LIMITS = XmlLimits(max_bytes=256 * 1024 * 1024)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Receipt:
    """What the hub answers for one accepted (or refused) document."""

    accepted: bool
    reference: str | None = None  # the hub's message id
    message: str | None = None


@dataclass(frozen=True)
class SoapResponse:
    status: int
    body: bytes
    content_type: str = XML_CT


Sink = Callable[[DocumentResult], Receipt]


@dataclass(frozen=True)
class Translated:
    """A translated batch: the operation, its namespace and one result per document (picklable)."""

    op: str
    ns: str
    results: tuple[DocumentResult, ...]


def soap_fault(code: str, reason: str, *, status: int = 500) -> SoapResponse:
    """A SOAP 1.1 fault (``code`` is Client, Server or VersionMismatch)."""
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="{SOAP11_NS}"><soap:Body><soap:Fault>'
        f"<faultcode>soap:{code}</faultcode><faultstring>{escape(reason)}</faultstring>"
        "</soap:Fault></soap:Body></soap:Envelope>"
    )
    return SoapResponse(status, body.encode("utf-8"))


class SoapPushService:
    """Publishes push WSDLs and handles SOAP 1.1 batch submissions for push-capable adapters."""

    def __init__(self, registry: AdapterRegistry, sink: Sink):
        self.registry = registry
        self.sink = sink
        # the envelope is judged by the registry's budgets (hub.toml [limits]) with a larger byte cap
        self.envelope_limits = registry.limits.xml(max_bytes=PUSH_LIMITS.max_bytes)

    def _adapter(self, code: str) -> Adapter:
        adapter = self.registry.get(code)
        if not adapter.manifest.can_push:
            raise ConfigurationError(f"adapter {code} does not accept SOAP push")
        return adapter

    def wsdl(self, adapter_code: str, base_url: str) -> bytes:
        """The adapter's push WSDL with its address (``base_url``) and schema location filled in."""
        adapter = self._adapter(adapter_code)
        assert adapter.manifest.push_wsdl is not None
        text = adapter.manifest.push_wsdl.read_text(encoding="utf-8")
        text = text.replace("{{ADDRESS}}", escape(base_url)).replace("{{SCHEMA}}", escape(f"{base_url}?xsd"))
        return text.encode("utf-8")

    def schema(self, adapter_code: str) -> bytes:
        """The legacy XSD the push WSDL imports (served at ``<base_url>?xsd``)."""
        return self._adapter(adapter_code).manifest.schema.read_bytes()

    def _operation(self, adapter: Adapter) -> tuple[str, str]:
        op = adapter.manifest.transport.operations.get("submit")
        if not op:
            raise ConfigurationError(f"adapter {adapter.code}: transport.operations.submit is not set")
        ns = adapter.mapping.namespaces.get("", "")
        return op, ns

    def handle(self, adapter_code: str, body: bytes, soap_action: str | None) -> SoapResponse:
        """Answer one SOAP request: per-document receipts, or a fault for a bad envelope."""
        translated = self.translate(adapter_code, body, soap_action)
        return translated if isinstance(translated, SoapResponse) else self.respond(translated)

    def translate(self, adapter_code: str, body: bytes, soap_action: str | None) -> SoapResponse | Translated:
        """The CPU-heavy half of :meth:`handle` (parse, check, translate; no sink): the hub runs it in
        a sandbox process with a time budget (:mod:`gateway.server.sandbox`). A fault, or the batch."""
        try:
            adapter = self._adapter(adapter_code)
            op, ns = self._operation(adapter)
        except ConfigurationError as exc:
            return soap_fault("Client", str(exc), status=404)
        if soap_action is not None:
            action = soap_action.strip().strip('"')
            if action and action.rsplit("/", 1)[-1] != op:
                return soap_fault("Client", f"unknown SOAPAction {action!r}; this endpoint accepts {op}")
        try:
            root = parse_xml(body, source=f"SOAP push to {adapter_code}", limits=self.envelope_limits)
        except GatewayError as exc:
            return soap_fault("Client", f"request is not acceptable XML: {exc}")
        if root.tag == f"{{{SOAP12_NS}}}Envelope":
            return soap_fault("VersionMismatch", "SOAP 1.2 envelope received; this endpoint speaks SOAP 1.1")
        if root.tag != f"{{{SOAP11_NS}}}Envelope":
            return soap_fault("Client", f"expected a SOAP 1.1 Envelope, found <{etree.QName(root).localname}>")
        soap_body = root.find(f"{{{SOAP11_NS}}}Body")
        if soap_body is None or len(soap_body) == 0:
            return soap_fault("Client", "the SOAP Body is missing or empty")
        request = soap_body[0]
        if request.tag != f"{{{ns}}}{op}":
            found = etree.QName(request)
            return soap_fault(
                "Client", f"expected {{{ns}}}{op} in the SOAP Body, found {{{found.namespace}}}{found.localname}"
            )
        results = adapter.translate_tree(request, source=f"SOAP push to {adapter_code}")
        if len(results) == 1 and results[0].kind is None and not results[0].ok:
            return soap_fault("Client", f"the batch holds no document: {results[0].errors[0].message}")
        return Translated(op, ns, tuple(results))

    def respond(self, translated: Translated) -> SoapResponse:
        """Hand each translated document to the sink and answer the receipts."""
        results = list(translated.results)
        receipts = [self._receipt(r) for r in results]
        return SoapResponse(200, self._response(translated.op, translated.ns, results, receipts))

    def _receipt(self, result: DocumentResult) -> Receipt:
        if not result.ok:
            return Receipt(False, None, "; ".join(str(e) for e in result.errors))
        try:
            return self.sink(result)
        except GatewayError as exc:
            return Receipt(False, None, f"not recorded: {exc}" + (" (retry later)" if exc.retryable else ""))
        except Exception:
            log.exception("sink failed for document %s", result.index)
            return Receipt(False, None, "not recorded: internal error in the gateway (retry later)")

    @staticmethod
    def _response(op: str, ns: str, results: list[DocumentResult], receipts: list[Receipt]) -> bytes:
        items = []
        for result, receipt in zip(results, receipts, strict=True):
            fields = [f"<ViTri>{result.index}</ViTri>"]
            if result.legacy_id:
                fields.append(f"<MaVanBan>{escape(result.legacy_id)}</MaVanBan>")
            fields.append(f"<ChapNhan>{'true' if receipt.accepted else 'false'}</ChapNhan>")
            if result.document_id:
                fields.append(f"<MaDinhDanhVanBan>{escape(result.document_id)}</MaDinhDanhVanBan>")
            if receipt.reference:
                fields.append(f"<MaThamChieu>{escape(receipt.reference)}</MaThamChieu>")
            if receipt.message:
                fields.append(f"<ThongBao>{escape(receipt.message)}</ThongBao>")
            items.append(f"<BienNhan>{''.join(fields)}</BienNhan>")
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="{SOAP11_NS}"><soap:Body>'
            f'<{op}Response xmlns="{escape(ns)}">{"".join(items)}</{op}Response></soap:Body></soap:Envelope>'
        )
        return xml.encode("utf-8")


__all__ = ["Receipt", "Sink", "SoapPushService", "SoapResponse", "Translated", "soap_fault"]
