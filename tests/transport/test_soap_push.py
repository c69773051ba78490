"""SOAP push: a zeep client submits batches to the push service over a real HTTP server."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest
import zeep

from gateway.adapters import AdapterRegistry, DocumentResult
from gateway.errors import UpstreamUnavailableError
from gateway.legacy_sim import HttpReply, LocalHttpServer
from gateway.transport.soap import HARDENED_SETTINGS, HttpxTransport
from gateway.transport.soap_push import Receipt, SoapPushService

FIXTURES = Path(__file__).resolve().parents[2] / "adapters" / "qlvb_soap" / "fixtures"
NS = "urn:qlvb:lienthong:v1"


class Ledger:
    """Stands in for the hub's ledger: records accepted documents, can be told to be down."""

    def __init__(self) -> None:
        self.recorded: list[DocumentResult] = []
        self.down = False
        self._ids = itertools.count(1)

    def __call__(self, result: DocumentResult) -> Receipt:
        if self.down:
            raise UpstreamUnavailableError("ledger database unavailable")
        self.recorded.append(result)
        return Receipt(True, f"MSG-{next(self._ids):04d}", "da tiep nhan")


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture
def server(ledger: Ledger) -> Iterator[LocalHttpServer]:
    service = SoapPushService(AdapterRegistry(use_entry_points=False), ledger)

    def handler(method: str, path: str, headers: Mapping[str, str], body: bytes) -> HttpReply:
        code = path.split("?")[0].rsplit("/", 1)[-1]
        base = f"http://127.0.0.1:{srv.port}/soap/{code}"
        if method == "GET" and path.endswith("?wsdl"):
            return HttpReply(200, service.wsdl(code, base))
        if method == "GET" and path.endswith("?xsd"):
            return HttpReply(200, service.schema(code))
        resp = service.handle(code, body, headers.get("soapaction"))
        return HttpReply(resp.status, resp.body, resp.content_type)

    srv = LocalHttpServer(handler)
    with srv:
        yield srv


def _van_ban(doc: bytes) -> str:
    return re.sub(r"<\?xml[^>]*\?>", "", doc.decode())


def _client(server: LocalHttpServer, http: httpx.Client) -> zeep.Client:
    # The push WSDL imports its schema from the same server, so this client allows that one import.
    settings = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=False)
    transport = HttpxTransport(http, operation_timeout=5)
    return zeep.Client(f"{server.base_url}/soap/qlvb_soap?wsdl", transport=transport, settings=settings)


def test_push_batch_gets_one_receipt_per_document(server: LocalHttpServer, ledger: Ledger) -> None:
    good = (FIXTURES / "cong_van.in.xml").read_bytes()
    second = good.replace(b"QLVB-2024-000123", b"QLVB-2").replace(b"1234/UBND-VX", b"55/UBND-VX")
    with httpx.Client() as http:
        client = _client(server, http)
        docs = [
            client.get_element(f"{{{NS}}}VanBan").parse(
                zeep.loader.parse_xml(_van_ban(d).encode(), None), client.wsdl.types
            )
            for d in (good, second)
        ]
        receipts = client.service.GuiLoVanBan(VanBan=docs)
    assert [r.ChapNhan for r in receipts] == [True, True]
    assert [r.MaThamChieu for r in receipts] == ["MSG-0001", "MSG-0002"]
    assert receipts[1].MaDinhDanhVanBan == "000.00.00.H41,2024/05/06,55/UBND-VX"
    assert [r.document_id for r in ledger.recorded] == [receipts[0].MaDinhDanhVanBan, receipts[1].MaDinhDanhVanBan]


def _envelope(inner: str) -> bytes:
    return (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        f'<GuiLoVanBan xmlns="{NS}">{inner}</GuiLoVanBan></soap:Body></soap:Envelope>'
    ).encode()


def _post(
    server: LocalHttpServer, body: bytes, action: str | None = '"urn:qlvb:lienthong:v1/GuiLoVanBan"'
) -> httpx.Response:
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    if action is not None:
        headers["SOAPAction"] = action
    return httpx.post(f"{server.base_url}/soap/qlvb_soap", content=body, headers=headers)


def test_bad_document_is_refused_alone(server: LocalHttpServer, ledger: Ledger) -> None:
    good = _van_ban((FIXTURES / "cong_van.in.xml").read_bytes())
    bad = good.replace("QLVB-2024-000123", "QLVB-BAD").replace(
        "<LoaiVanBan>CV</LoaiVanBan>", "<LoaiVanBan>XX</LoaiVanBan>"
    )
    third = good.replace("QLVB-2024-000123", "QLVB-3").replace("1234/UBND-VX", "3/UBND-VX")
    resp = _post(server, _envelope(good + bad + third))
    assert resp.status_code == 200
    text = resp.text
    assert text.count("<ChapNhan>true</ChapNhan>") == 2 and text.count("<ChapNhan>false</ChapNhan>") == 1
    assert "<ViTri>2</ViTri><MaVanBan>QLVB-BAD</MaVanBan><ChapNhan>false</ChapNhan>" in text
    assert "/GuiLoVanBan/VanBan[2]/LoaiVanBan" in text and "value must be one of" in text
    assert len(ledger.recorded) == 2


def test_ledger_down_gives_retry_later_receipts(server: LocalHttpServer, ledger: Ledger) -> None:
    ledger.down = True
    resp = _post(server, _envelope(_van_ban((FIXTURES / "cong_van.in.xml").read_bytes())))
    assert resp.status_code == 200 and "<ChapNhan>false</ChapNhan>" in resp.text and "retry later" in resp.text


@pytest.mark.parametrize(
    ("body", "action", "reason"),
    [
        (b"<soap:Envelope", None, "not acceptable XML"),
        (b"<x/>", None, "expected a SOAP 1.1 Envelope"),
        (b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>', None, "SOAP 1.2"),
        (b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"/>', None, "Body is missing"),
        (b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', None, "DTD"),
        (_envelope(""), None, "holds no document"),
        (_envelope(""), '"urn:x/DeleteAll"', "unknown SOAPAction"),
    ],
)
def test_bad_envelope_gets_a_fault_with_a_reason(
    server: LocalHttpServer, body: bytes, action: str | None, reason: str
) -> None:
    resp = _post(server, body, action)
    assert resp.status_code == 500
    assert "<faultcode>soap:" in resp.text and reason in resp.text


def test_unknown_adapter_is_a_404_fault(server: LocalHttpServer) -> None:
    resp = httpx.post(f"{server.base_url}/soap/nope", content=_envelope(""))
    assert resp.status_code == 404 and "unknown adapter 'nope'" in resp.text


def test_wsdl_has_the_address_filled_in(server: LocalHttpServer) -> None:
    wsdl = httpx.get(f"{server.base_url}/soap/qlvb_soap?wsdl").text
    assert f'location="{server.base_url}/soap/qlvb_soap"' in wsdl and "{{" not in wsdl
    assert HARDENED_SETTINGS.forbid_external  # the pull side stays strict; see _client above
