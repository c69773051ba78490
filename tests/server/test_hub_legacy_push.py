"""Legacy SOAP push mounted in a real hub: a zeep client pushes a qlvb_soap batch with HTTP Basic auth."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
import zeep
from hubkit import running_hubs, sdk_call
from sqlalchemy import select

from gateway.config import HubSettings
from gateway.ledger import verify_chain
from gateway.ledger.models import Message, Submission
from gateway.transport.soap import HttpxTransport

pytestmark = pytest.mark.db

FIXTURES = Path(__file__).resolve().parents[2] / "adapters" / "qlvb_soap" / "fixtures"
NS = "urn:qlvb:lienthong:v1"
SENDER, SNV, STC = "000.00.00.H41", "000.00.10.H41", "000.00.12.H41"


@pytest.fixture
def hub(tmp_path: Path, database_url: str):
    settings = HubSettings(data_dir=tmp_path / "hub", database_url=database_url, node_id="NA.W00")
    with running_hubs(settings) as (running,):
        running.ledger.add_system("qlvb-na", "pw-qlvb", [SENDER], name="QLVB UBND Nghe An")
        running.ledger.add_system("snv", "pw-snv", [SNV])
        running.ledger.add_system("stc", "pw-stc", [STC])
        running.ledger.add_system("sys-g22", "pw-g22", ["000.00.00.G22"])
        yield running


def _docs() -> list[str]:
    good = re.sub(r"<\?xml[^>]*\?>", "", (FIXTURES / "cong_van.in.xml").read_text(encoding="utf-8"))
    bad = good.replace("QLVB-2024-000123", "QLVB-BAD").replace(
        "<LoaiVanBan>CV</LoaiVanBan>", "<LoaiVanBan>XX</LoaiVanBan>"
    )
    third = good.replace("QLVB-2024-000123", "QLVB-3").replace("1234/UBND-VX", "3/UBND-VX")
    return [good, bad, third]


def _push(hub, user: str, password: str, timeout: float = 120) -> list:
    settings = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=False)
    with httpx.Client(auth=(user, password), timeout=timeout) as http:
        client = zeep.Client(f"{hub.url}/legacy/qlvb_soap?wsdl",
                             transport=HttpxTransport(http, operation_timeout=timeout),
                             settings=settings)
        element = client.get_element(f"{{{NS}}}VanBan")
        docs = [element.parse(zeep.loader.parse_xml(d.encode(), None), client.wsdl.types) for d in _docs()]
        return list(client.service.GuiLoVanBan(VanBan=docs))


def test_batch_is_recorded_per_document_with_receipts(hub) -> None:
    receipts = _push(hub, "qlvb-na", "pw-qlvb")
    assert [r.ChapNhan for r in receipts] == [True, False, True]
    # paths are written with the prefixes of the pushed document itself (zeep's ns0)
    assert "/ns0:GuiLoVanBan/ns0:VanBan[2]/ns0:LoaiVanBan" in receipts[1].ThongBao and receipts[1].MaThamChieu is None
    refs = [receipts[0].MaThamChieu, receipts[2].MaThamChieu]
    with hub.ledger.reader() as s:
        subs = s.execute(select(Submission).order_by(Submission.id)).scalars().all()
        assert [sub.doc_id for sub in subs] == refs
        assert {sub.system_id for sub in subs} == {"qlvb-na"}
        assert subs[1].document_id == receipts[2].MaDinhDanhVanBan == "000.00.00.H41,2024/05/06,3/UBND-VX"
        msgs = s.execute(select(Message).order_by(Message.id)).scalars().all()
        assert [(m.route, m.destination, m.adapter, m.state) for m in msgs] == [
            ("local", "snv", "qlvb_soap", "QUEUED"), ("local", "stc", "qlvb_soap", "QUEUED")
        ] * 2
        assert verify_chain(s).ok
    # the recipients see them in their axis inbox, with this hub's trace hop added
    inbox = sdk_call(hub.url, "getReceivedEdocList", "snv", "pw-snv", {"messagetype": "edoc"}).json()["data"]
    assert len(inbox) == 2 and {i["from"] for i in inbox} == {SENDER}
    got = httpx.get(f"{hub.url}/downloadEdoc", headers=_signed(hub, "snv", "pw-snv", inbox[0]["docId"]))
    assert got.status_code == 200 and b"<edXML:OrganId>NA.W00</edXML:OrganId>" in got.content

    again = _push(hub, "qlvb-na", "pw-qlvb")  # the same batch again: same references, nothing new
    assert [r.MaThamChieu for r in again] == [refs[0], None, refs[1]]
    assert again[0].ThongBao == "already accepted"
    with hub.ledger.reader() as s:
        assert len(s.execute(select(Submission)).all()) == 2


def _signed(hub, system: str, secret: str, doc_id: str) -> dict[str, str]:
    from hubkit import sdk_headers

    return sdk_headers(system, secret, {"docId": doc_id}, "application/json")


def test_system_not_registered_for_the_sender_is_refused_per_document(hub) -> None:
    receipts = _push(hub, "sys-g22", "pw-g22")
    assert [r.ChapNhan for r in receipts] == [False, False, False]
    assert "not registered for sender OrganId '000.00.00.H41'" in receipts[0].ThongBao
    with hub.ledger.reader() as s:
        assert s.execute(select(Submission)).first() is None


@pytest.mark.parametrize("auth", [("qlvb-na", "wrong"), ("nobody", "pw-qlvb"), None])
def test_bad_or_missing_credentials_get_401(hub, auth) -> None:
    body = (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        f'<GuiLoVanBan xmlns="{NS}">{_docs()[0]}</GuiLoVanBan></soap:Body></soap:Envelope>'
    ).encode()
    resp = httpx.post(f"{hub.url}/legacy/qlvb_soap", content=body, auth=auth,
                      headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{NS}/GuiLoVanBan"'})
    assert resp.status_code == 401 and resp.headers["www-authenticate"].startswith("Basic")
    assert "<faultcode>soap:Client</faultcode>" in resp.text and "pw-" not in resp.text
    with hub.ledger.reader() as s:
        assert s.execute(select(Submission)).first() is None


def test_wsdl_names_the_hub_address_and_unknown_adapter_is_404(hub) -> None:
    wsdl = httpx.get(f"{hub.url}/legacy/qlvb_soap?wsdl").text
    assert f'location="{hub.url}/legacy/qlvb_soap"' in wsdl and "{{" not in wsdl
    assert httpx.get(f"{hub.url}/legacy/qlvb_soap?xsd").text.count("schema") >= 2
    assert httpx.get(f"{hub.url}/legacy/nope?wsdl").status_code == 404
