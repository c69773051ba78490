"""The QLVB legacy document system, simulated: its WSDL, an outgoing queue, an inbox, state reports.

It behaves the way the gateway expects the real system to: ``LayDanhSachVanBanChoGui`` lists
the queue, ``LayVanBan`` returns one document with its files, ``XacNhanDaLay`` removes it from
the queue, ``NhanVanBan`` stores an incoming document (after XSD validation, SOAP fault if bad)
and ``BaoCaoTrangThai`` stores a reported state.  ``fail_next`` injects HTTP errors so tests can
check the retry classification.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from xml.sax.saxutils import escape

from lxml import etree

from gateway.errors import GatewayError
from gateway.legacy_sim.http import HttpReply, LocalHttpServer
from gateway.xml import compile_schema, parse_schema_document, parse_xml

NS = "urn:qlvb:lienthong:v1"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


def default_adapter_folder() -> Path:
    return Path(__file__).resolve().parents[2] / "adapters" / "qlvb_soap"


def envelope(body: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="{SOAP}"><soap:Body>'
        f"{body}</soap:Body></soap:Envelope>"
    ).encode()


def fault(code: str, reason: str) -> HttpReply:
    body = f"<soap:Fault><faultcode>soap:{code}</faultcode><faultstring>{escape(reason)}</faultstring></soap:Fault>"
    return HttpReply(500, envelope(body))


class QlvbSimulator:
    """A real SOAP 1.1 server on 127.0.0.1 that behaves like the QLVB system."""

    def __init__(self, adapter_folder: Path | None = None, *, port: int = 0):
        folder = adapter_folder or default_adapter_folder()
        self.wsdl_template = (folder / "wsdl" / "qlvb.wsdl").read_text(encoding="utf-8")
        self.xsd = (folder / "xsd" / "qlvb.xsd").read_bytes()
        self.schema = compile_schema(parse_schema_document(folder / "xsd" / "qlvb.xsd", folder=folder))
        self.outgoing: OrderedDict[str, bytes] = OrderedDict()  # MaVanBan -> serialised VanBan
        self.acknowledged: list[str] = []
        self.received: list[bytes] = []  # serialised VanBan elements delivered by the gateway
        self.states: list[dict[str, str]] = []  # reported TrangThaiVanBan, as local-name -> text
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self.server = LocalHttpServer(self.handle, port=port)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> QlvbSimulator:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> QlvbSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        return f"{self.server.base_url}/qlvb"

    @property
    def wsdl_url(self) -> str:
        return f"{self.endpoint}?wsdl"

    # -- test controls ------------------------------------------------------------------------

    def queue(self, van_ban_xml: bytes) -> str:
        """Put a document (a ``VanBan`` element, bytes) in the outgoing queue; returns its MaVanBan."""
        el = parse_xml(van_ban_xml, source="queued document")
        legacy_id = (el.findtext(f"{{{NS}}}MaVanBan") or "").strip()
        with self._lock:
            self.outgoing[legacy_id] = etree.tostring(el)
        return legacy_id

    def fail_next(self, *statuses: int) -> None:
        """Answer the next POSTs with these HTTP statuses (e.g. 503, then 400)."""
        with self._lock:
            self._failures.extend(statuses)

    # -- HTTP ---------------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> HttpReply:
        if method == "GET" and path.lower().startswith("/qlvb?wsdl"):
            wsdl = self.wsdl_template.replace("http://localhost/qlvb", self.endpoint)
            wsdl = wsdl.replace('schemaLocation="../xsd/qlvb.xsd"', f'schemaLocation="{self.server.base_url}/qlvb.xsd"')
            return HttpReply(200, wsdl.encode())
        if method == "GET" and path == "/qlvb.xsd":
            return HttpReply(200, self.xsd)
        if method != "POST" or not path.startswith("/qlvb"):
            return HttpReply(404, b"not found", "text/plain")
        with self._lock:
            status = self._failures.pop(0) if self._failures else None
        if status is not None:
            return HttpReply(status, f"simulated HTTP {status}".encode(), "text/plain")
        try:
            root = parse_xml(body, source="QLVB request")
        except GatewayError as exc:
            return fault("Client", f"bad request: {exc}")
        request = root.find(f"{{{SOAP}}}Body")
        if request is None or len(request) == 0:
            return fault("Client", "no SOAP body")
        op = request[0]
        name = etree.QName(op).localname
        handler = getattr(self, f"_op_{name}", None)
        if handler is None:
            return fault("Client", f"unknown operation {name}")
        reply: HttpReply = handler(op)
        return reply

    def _ket_qua(self, op: str, legacy_id: str, ok: bool, message: str) -> HttpReply:
        return HttpReply(
            200,
            envelope(
                f'<{op}Response xmlns="{NS}"><KetQua><MaVanBan>{escape(legacy_id)}</MaVanBan>'
                f"<ThanhCong>{'true' if ok else 'false'}</ThanhCong><ThongBao>{escape(message)}</ThongBao>"
                f"</KetQua></{op}Response>"
            ),
        )

    def _op_LayDanhSachVanBanChoGui(self, op: etree._Element) -> HttpReply:
        limit_text = op.findtext(f"{{{NS}}}SoLuongToiDa")
        with self._lock:
            items = list(self.outgoing.items())
        if limit_text:
            items = items[: int(limit_text)]
        parts = []
        for legacy_id, xml in items:
            el = etree.fromstring(xml)  # our own serialisation, already hardened-parsed once
            parts.append(
                f"<VanBanTomTat><MaVanBan>{escape(legacy_id)}</MaVanBan>"
                f"<SoKyHieu>{escape(el.findtext(f'{{{NS}}}SoKyHieu') or '')}</SoKyHieu>"
                f"<TrichYeu>{escape(el.findtext(f'{{{NS}}}TrichYeu') or '')}</TrichYeu></VanBanTomTat>"
            )
        return HttpReply(
            200,
            envelope(
                f'<LayDanhSachVanBanChoGuiResponse xmlns="{NS}">{"".join(parts)}</LayDanhSachVanBanChoGuiResponse>'
            ),
        )

    def _op_LayVanBan(self, op: etree._Element) -> HttpReply:
        legacy_id = (op.findtext(f"{{{NS}}}MaVanBan") or "").strip()
        with self._lock:
            xml = self.outgoing.get(legacy_id)
        if xml is None:
            return fault("Client", f"khong tim thay van ban {legacy_id}")
        return HttpReply(200, envelope(f'<LayVanBanResponse xmlns="{NS}">{xml.decode()}</LayVanBanResponse>'))

    def _op_XacNhanDaLay(self, op: etree._Element) -> HttpReply:
        legacy_id = (op.findtext(f"{{{NS}}}MaVanBan") or "").strip()
        with self._lock:
            found = self.outgoing.pop(legacy_id, None) is not None
            if found:
                self.acknowledged.append(legacy_id)
        return self._ket_qua("XacNhanDaLay", legacy_id, found, "da xac nhan" if found else "khong co trong hang doi")

    def _op_NhanVanBan(self, op: etree._Element) -> HttpReply:
        doc = op.find(f"{{{NS}}}VanBan")
        if doc is None or not self.schema.validate(doc):
            reason = str(self.schema.error_log.last_error) if doc is not None else "no VanBan"  # type: ignore[attr-defined]
            return fault("Client", f"van ban khong hop le: {reason}")
        legacy_id = (doc.findtext(f"{{{NS}}}MaVanBan") or "").strip()
        with self._lock:
            self.received.append(etree.tostring(doc))
        return self._ket_qua("NhanVanBan", legacy_id, True, "da nhan")

    def _op_BaoCaoTrangThai(self, op: etree._Element) -> HttpReply:
        doc = op.find(f"{{{NS}}}TrangThaiVanBan")
        if doc is None or not self.schema.validate(doc):
            return fault("Client", "trang thai khong hop le")
        state = {etree.QName(el).localname: (el.text or "").strip() for el in doc.iter() if len(el) == 0}
        with self._lock:
            self.states.append(state)
        return self._ket_qua("BaoCaoTrangThai", state.get("MaVanBan", ""), True, "da ghi nhan")


__all__ = ["QlvbSimulator"]
