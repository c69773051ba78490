"""The receiving side of a real hub over HTTP: date filters of the inbox, updateStatus on an unread
and an acknowledged document, refused statuses and dates, the declared messagetype, the agency list.

One hub on 127.0.0.1 (uvicorn in a thread), the independent client of hubkit; each check reads the
hub's answer or its ledger.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hubkit import VN, running_hubs, sdk_call, sdk_send
from sqlalchemy import select

from gateway.config import HubSettings
from gateway.edxml import Organization, build_package
from gateway.edxml.samples import sample_edoc
from gateway.ledger.models import Message

pytestmark = pytest.mark.db

H41, G22, G12 = "000.00.00.H41", "000.00.00.G22", "000.00.00.G12"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "edxml"


@pytest.fixture
def hub(hub_settings: HubSettings):
    with running_hubs(hub_settings) as (h,):
        h.ledger.add_system("sys-h41", "s-h41", [H41])
        h.ledger.add_system("sys-g22", "s-g22", [G22])
        h.ledger.add_system("sys-g12", "s-g12", [G12])
        yield h


def _axis(moment: datetime) -> str:
    return moment.astimezone(VN).strftime("%d/%m/%Y %H:%M:%S")


def _inbox(hub, **dates: str) -> list[dict]:  # type: ignore[no-untyped-def]
    r = sdk_call(hub.url, "getReceivedEdocList", "sys-g22", "s-g22", {"messagetype": "edoc", **dates}, body=b"")
    assert r.status_code == 200 and r.json()["status"] == "OK", r.text
    return list(r.json()["data"])


def _state(hub, doc_id: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    with hub.ledger.reader() as s:
        m = s.execute(select(Message).where(Message.doc_id == doc_id)).scalar_one()
        return m.state, m.transport_status


def test_the_inbox_keeps_what_falls_between_from_and_to_date(hub) -> None:  # type: ignore[no-untyped-def]
    r = sdk_send(hub.url, "sys-h41", "s-h41", build_package(sample_edoc(700, recipients=(Organization(G22),))))
    assert r.json()["status"] == "OK", r.text
    now = datetime.now(VN)
    hour = timedelta(hours=1)
    assert len(_inbox(hub)) == 1
    assert len(_inbox(hub, fromDate=_axis(now - hour), toDate=_axis(now + hour))) == 1
    assert _inbox(hub, fromDate=_axis(now + hour)) == []  # received before fromDate
    assert _inbox(hub, toDate=_axis(now - hour)) == []  # received after toDate
    bad = sdk_call(hub.url, "getReceivedEdocList", "sys-g22", "s-g22",
                   {"messagetype": "edoc", "fromDate": now.date().isoformat()}, body=b"")
    assert bad.status_code == 400, bad.text
    assert "is not in the format dd/MM/yyyy HH:mm:ss" in bad.json()["ErrorDesc"]


def test_update_status_done_on_an_unread_document_acknowledges_it_once(hub) -> None:  # type: ignore[no-untyped-def]
    r = sdk_send(hub.url, "sys-h41", "s-h41", build_package(sample_edoc(701, recipients=(Organization(G22),))))
    (item,) = _inbox(hub)
    doc_id = item["docId"]
    assert _state(hub, doc_id)[0] == "QUEUED" and r.json()["DocId"]

    def update(status: str) -> dict:
        answer = sdk_call(hub.url, "updateStatus", "sys-g22", "s-g22", {"docid": doc_id, "status": status})
        return {"http": answer.status_code, **answer.json()}

    refused = update("read")
    assert refused["http"] == 400 and "status must be one of ['done', 'fail', 'processing'], not 'read'" in \
        refused["ErrorDesc"]
    assert _state(hub, doc_id) == ("QUEUED", "pending")  # a refused status changes nothing
    assert update("processing")["status"] == "OK"
    assert _state(hub, doc_id) == ("QUEUED", "processing")  # not done: the delivery state stays
    assert update("DONE")["status"] == "OK"  # never fetched: sent and acknowledged in one step
    assert _state(hub, doc_id) == ("ACKNOWLEDGED", "done")
    assert _inbox(hub) == []
    assert update("fail")["status"] == "OK"  # a later transport status is recorded, the state stays
    assert _state(hub, doc_id) == ("ACKNOWLEDGED", "fail")
    assert update("done")["status"] == "OK"  # acknowledged already: no second transition
    assert _state(hub, doc_id) == ("ACKNOWLEDGED", "done")


def test_a_declared_messagetype_must_match_the_body(hub) -> None:  # type: ignore[no-untyped-def]
    data = build_package(sample_edoc(702, recipients=(Organization(G22),)))
    r = sdk_send(hub.url, "sys-h41", "s-h41", data, messagetype="status")  # signed, but not what the body is
    assert r.status_code == 422, r.text
    assert "messagetype header says 'status' but the body is a edoc package" in r.json()["ErrorDesc"]
    assert _inbox(hub) == []


def test_schema_departures_are_logged_and_the_package_accepted(hub) -> None:  # type: ignore[no-untyped-def]
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("lienthong.hub")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        r = sdk_send(hub.url, "sys-h41", "s-h41", (FIXTURES / "variant_reordered.edxml").read_bytes())
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert r.json()["status"] == "OK", r.text
    logged = [rec for rec in records if rec.getMessage() == "package accepted with schema departures"]
    assert len(logged) == 1 and logged[0].system_id == "sys-h41"  # type: ignore[attr-defined]
    assert logged[0].issues and "Subject" in logged[0].issues[0]  # type: ignore[attr-defined]
    assert len(_inbox(hub)) == 1


def test_the_agency_list_names_agency_systems_only(hub) -> None:  # type: ignore[no-untyped-def]
    hub.ledger.add_system("peer-hub", "s-peer", ["000.00.00.Z99"], kind="hub")
    hub.ledger.add_system("sys-a01", "s-a01", ["000.00.00.A01"], name="So Tu phap")
    r = sdk_call(hub.url, "getAgenciesList", "sys-h41", "s-h41", {}, body=b"")
    codes = {a["code"]: a for a in r.json()["data"]}
    assert "000.00.00.A01" in codes and codes["000.00.00.A01"]["name"] == "So Tu phap"
    assert "000.00.00.Z99" not in codes  # a peer hub's organs are not this hub's agencies
