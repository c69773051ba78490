"""SOAP pull from legacy systems: zeep over a small synchronous httpx transport.

zeep 4.3 only speaks httpx in its async client, so :class:`HttpxTransport` adapts a sync
``httpx.Client`` to zeep's transport contract.  zeep's XML loading is hardened (no DTD, no
entities, no external references, no huge trees) and WSDL/XSD files are only read from the
network through the same client or from inside one allowed folder.  Every foreign exception is
translated here, once: timeouts and 5xx are retryable, faults and 4xx are not.

:class:`LegacySoapConnector` binds an adapter to a legacy endpoint: list pending documents, fetch
one (its XML goes through the hardened parser and the adapter's mapping), acknowledge it,
deliver an incoming document and report a processing state.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import requests
import zeep
import zeep.exceptions
from lxml import etree

from gateway.adapters.adapter import Adapter, Package
from gateway.adapters.report import DocumentResult, TranslationReport
from gateway.errors import (
    ConfigurationError,
    GatewayError,
    Location,
    RemoteRefusalError,
    TransportError,
    TransportTimeoutError,
    UpstreamUnavailableError,
)
from gateway.xml import parse_xml

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"

HARDENED_SETTINGS = zeep.Settings(
    strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True, xml_huge_tree=False
)


class HttpxTransport(zeep.transports.Transport):
    """zeep's transport contract over a synchronous ``httpx.Client``.

    ``local_root`` is the only folder WSDL/XSD files may be read from (the adapter folder).
    """

    def __init__(self, client: httpx.Client, *, operation_timeout: float, local_root: Path | None = None):
        # Deliberately not calling super().__init__: it would open a requests.Session we never use.
        self.cache = None
        self.load_timeout = operation_timeout
        self.operation_timeout = operation_timeout
        self.client = client
        self.local_root = local_root.resolve() if local_root else None
        self._close_session = False
        import logging

        self.logger = logging.getLogger(__name__)

    @staticmethod
    def _response(resp: httpx.Response) -> requests.Response:
        new = requests.Response()
        new._content = resp.content
        new.status_code = resp.status_code
        new.headers = requests.structures.CaseInsensitiveDict(resp.headers)
        new.encoding = resp.encoding
        return new

    def get(self, address: str, params: Any, headers: Any) -> requests.Response:
        with translate_errors(address):
            return self._response(
                self.client.get(address, params=params, headers=headers, timeout=self.operation_timeout)
            )

    def post(self, address: str, message: Any, headers: Any) -> requests.Response:
        with translate_errors(address):
            resp = self.client.post(address, content=message, headers=headers, timeout=self.operation_timeout)
        return self._response(resp)

    def load(self, url: str) -> bytes:
        if not url:
            raise ConfigurationError("no WSDL/XSD location given")
        scheme = urlparse(url).scheme
        if scheme in ("http", "https"):
            with translate_errors(url):
                resp = self.client.get(url, timeout=self.load_timeout)
            if resp.status_code >= 400:
                raise _status_error(resp.status_code, url, "loading WSDL/XSD")
            return resp.content
        path = Path(urlparse(url).path if scheme == "file" else url).resolve()
        if self.local_root is None or not path.is_relative_to(self.local_root):
            raise ConfigurationError(f"refusing to read {path}: WSDL/XSD files must lie under {self.local_root}")
        return path.read_bytes()

    def _load_remote_data(self, url: str) -> bytes:
        return self.load(url)

    def __del__(self) -> None:  # the client belongs to the caller
        pass


def _status_error(status: int, where: str, what: str) -> TransportError:
    if status >= 500:
        return UpstreamUnavailableError(f"{what}: HTTP {status} from {where}")
    return RemoteRefusalError(f"{what}: HTTP {status} from {where}", code=str(status))


@contextlib.contextmanager
def translate_errors(where: str) -> Iterator[None]:
    """The one boundary that maps httpx and zeep exceptions into the gateway's tree."""
    try:
        yield
    except GatewayError:
        raise
    except httpx.TimeoutException as exc:
        raise TransportTimeoutError(f"no answer from {where} in time ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise UpstreamUnavailableError(f"cannot reach {where}: {type(exc).__name__}: {exc}") from exc
    except zeep.exceptions.Fault as exc:
        raise RemoteRefusalError(f"SOAP fault from {where}: {exc.message}", code=str(exc.code)) from exc
    except zeep.exceptions.TransportError as exc:
        raise _status_error(int(exc.status_code or 500), where, "SOAP call failed") from exc
    except zeep.exceptions.XMLSyntaxError as exc:
        raise TransportError(f"malformed SOAP answer from {where}: {exc}") from exc
    except (zeep.exceptions.DTDForbidden, zeep.exceptions.EntitiesForbidden) as exc:
        raise TransportError(f"SOAP answer from {where} uses a DTD or entities (refused)") from exc
    except zeep.exceptions.Error as exc:
        raise TransportError(f"SOAP call to {where} failed: {exc}") from exc


class SoapClient:
    """A zeep client for one WSDL, with hardened settings and translated errors."""

    def __init__(
        self,
        wsdl: str | Path,
        *,
        endpoint: str | None = None,
        timeout: float = 30.0,
        http: httpx.Client | None = None,
        local_root: Path | None = None,
    ):
        self._own_http = http is None
        self.http = http or httpx.Client(timeout=timeout)
        root = local_root or (Path(wsdl).parent.parent if not str(wsdl).startswith(("http:", "https:")) else None)
        self.transport = HttpxTransport(self.http, operation_timeout=timeout, local_root=root)
        where = str(wsdl)
        with translate_errors(where):
            self.client = zeep.Client(str(wsdl), transport=self.transport, settings=HARDENED_SETTINGS)  # type: ignore[no-untyped-call]
        binding = next(iter(next(iter(self.client.wsdl.services.values())).ports.values())).binding
        self.service = (
            self.client.create_service(binding.name, endpoint)  # type: ignore[no-untyped-call]
            if endpoint
            else self.client.service
        )
        self.endpoint = endpoint or where

    def call(self, operation: str, **kwargs: Any) -> Any:
        """Call an operation and return zeep's objects."""
        with translate_errors(self.endpoint):
            return getattr(self.service, operation)(**kwargs)

    def call_xml(self, operation: str, **kwargs: Any) -> etree._Element:
        """Call an operation and return the response body element, parsed by the hardened parser."""
        with translate_errors(self.endpoint), self.client.settings(raw_response=True):
            resp = getattr(self.service, operation)(**kwargs)
        try:
            root = parse_xml(resp.content, source=f"{self.endpoint} {operation} response")
        except GatewayError as exc:
            if resp.status_code >= 400:
                raise _status_error(resp.status_code, self.endpoint, operation) from exc
            raise TransportError(f"{operation}: answer from {self.endpoint} is not XML: {exc}") from exc
        body = root.find(f"{{{SOAP11_NS}}}Body")
        if body is None or len(body) == 0:
            if resp.status_code >= 400:
                raise _status_error(resp.status_code, self.endpoint, operation)
            raise TransportError(f"{operation}: answer has no SOAP body", location=Location(self.endpoint))
        first = body[0]
        if first.tag == f"{{{SOAP11_NS}}}Fault":
            reason = (first.findtext("faultstring") or "").strip()
            raise RemoteRefusalError(f"SOAP fault from {self.endpoint}: {reason}", code=first.findtext("faultcode"))
        if resp.status_code >= 400:
            raise _status_error(resp.status_code, self.endpoint, operation)
        return first

    def element_object(self, element: etree._Element) -> Any:
        """Turn a legacy element into the zeep object the WSDL expects for it."""
        with translate_errors(self.endpoint):
            decl = self.client.get_element(etree.QName(element).text)  # type: ignore[no-untyped-call]
            return decl.parse(element, self.client.wsdl.types)

    def close(self) -> None:
        if self._own_http:
            self.http.close()


@dataclass(frozen=True)
class DeliveryResult:
    """The legacy system's answer (KetQua) to a delivered document or state."""

    legacy_id: str | None
    accepted: bool
    message: str | None


class LegacySoapConnector:
    """One adapter bound to one legacy SOAP endpoint, using the operations named in its manifest."""

    def __init__(
        self,
        adapter: Adapter,
        endpoint: str,
        *,
        timeout: float | None = None,
        http: httpx.Client | None = None,
    ):
        man = adapter.manifest
        if man.transport.kind != "soap" or man.wsdl is None:
            raise ConfigurationError(f"adapter {adapter.code} has no SOAP transport with a WSDL")
        self.adapter = adapter
        self.ops = man.transport.operations
        seconds = float(timeout or man.transport.settings.get("timeout", 30.0))
        self.soap = SoapClient(man.wsdl, endpoint=endpoint, timeout=seconds, http=http, local_root=man.folder)
        km = adapter.mapping.kinds.get("edoc")
        self._id_name = km.id_path.keys[-1] if km and km.id_path else "id"

    def _op(self, name: str) -> str:
        op = self.ops.get(name)
        if not op:
            raise ConfigurationError(f"adapter {self.adapter.code}: transport.operations.{name} is not set")
        return op

    def pending(self, limit: int | None = None) -> list[str]:
        """Ids of the documents waiting in the legacy system's outgoing queue."""
        body = self.soap.call_xml(self._op("list_pending"), **({"SoLuongToiDa": limit} if limit else {}))
        ids = [el.text.strip() for el in body.iter() if etree.QName(el).localname == self._id_name and el.text]
        return ids

    def fetch(self, legacy_id: str) -> list[DocumentResult]:
        """Fetch one document with its files and translate it (errors are in the results)."""
        body = self.soap.call_xml(self._op("fetch"), **{self._id_name: legacy_id})
        return self.adapter.translate_tree(body, source=f"{self.adapter.code}:{legacy_id}")

    def acknowledge(self, legacy_id: str) -> DeliveryResult:
        return self._ket_qua(self.soap.call_xml(self._op("acknowledge"), **{self._id_name: legacy_id}))

    def pull(
        self, sink: Callable[[DocumentResult], bool] | None = None, *, limit: int | None = None
    ) -> TranslationReport:
        """Fetch every pending document; acknowledge those translated and accepted by ``sink``."""
        report = TranslationReport(self.adapter.code)
        for legacy_id in self.pending(limit):
            results = self.fetch(legacy_id)
            report.extend(results)
            if all(r.ok for r in results) and (sink is None or all(sink(r) for r in results)):
                self.acknowledge(legacy_id)
        return report

    def deliver(self, package: Package) -> DeliveryResult:
        """Send a document (NhanVanBan) or a status (BaoCaoTrangThai) to the legacy system."""
        out = self.adapter.to_legacy(package)
        assert out.element is not None
        op = self._op("report_status" if out.element.tag.endswith("TrangThaiVanBan") else "deliver")
        obj = self.soap.element_object(out.element)
        body = self.soap.call_xml(op, **{etree.QName(out.element).localname: obj})
        result = self._ket_qua(body)
        if not result.accepted:
            raise RemoteRefusalError(f"{self.adapter.code} refused the document: {result.message or 'no reason given'}")
        return result

    @staticmethod
    def _ket_qua(body: etree._Element) -> DeliveryResult:
        values = {etree.QName(el).localname: (el.text or "").strip() for el in body.iter() if isinstance(el.tag, str)}
        return DeliveryResult(
            legacy_id=values.get("MaVanBan") or None,
            accepted=values.get("ThanhCong", "false").lower() in ("true", "1"),
            message=values.get("ThongBao") or None,
        )

    def close(self) -> None:
        self.soap.close()


__all__ = [
    "HARDENED_SETTINGS",
    "DeliveryResult",
    "HttpxTransport",
    "LegacySoapConnector",
    "SoapClient",
    "translate_errors",
]
