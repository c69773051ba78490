"""The hub driven exactly the way the official SDK drives it (hubkit.SdkInstance), on two real hubs.

Each test asserts what the SDK would hand to agency software (status, ErrorCode, ErrorDesc,
DocId, data), including across calls of one reused client instance: stale ``to``, ``docId`` and
``docid`` side by side, one timestamp for the instance's whole life.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hubkit import VN, SdkInstance, running_hubs, wait_for
from sqlalchemy import func, select

from gateway.config import HubSettings, RemoteHubSettings, hash_operator_key
from gateway.edxml import Organization, build_package, parse_package
from gateway.edxml.samples import sample_edoc, sample_status
from gateway.ledger.models import AuditEntry, SignedRequest, StatusEvent, Submission

pytestmark = pytest.mark.db

H41, G22, G12 = "000.00.00.H41", "000.00.00.G22", "000.00.00.G12"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "edxml"
OPERATOR_KEY = "op-key-sdk-wire"
SEND = {"from": "sys-h41", "servicetype": "eDoc", "messagetype": "edoc"}
LIST = {"servicetype": "eDoc", "messagetype": "edoc"}


def _settings(tmp_path: Path, name: str, url: str, **kw) -> HubSettings:
    return HubSettings(data_dir=tmp_path / name, database_url=url, node_id=f"{name}.W00",
                       delivery_poll_seconds=0.1, delivery_backoff_base_seconds=0.1,
                       operator_key_hashes=(hash_operator_key(OPERATOR_KEY),), **kw)


@pytest.fixture
def hubs(tmp_path: Path, make_database_url):
    """Hub A (province: sys-h41) and hub B (national: sys-g22, sys-g12), as in test_hub_two."""
    from hubkit import free_socket

    sock_a, sock_b = free_socket(), free_socket()
    url_a = f"http://127.0.0.1:{sock_a.getsockname()[1]}"
    url_b = f"http://127.0.0.1:{sock_b.getsockname()[1]}"
    directory = tmp_path / "directory.json"
    directory.write_text(json.dumps([{"code": G22, "name": "VPCP", "centerCode": "B.W00"},
                                     {"code": G12, "name": "Bo Y te", "centerCode": "B.W00"}]))
    a = _settings(tmp_path, "A", make_database_url("sdk_a"), directory_file=directory,
                  peers=(RemoteHubSettings(url_b, "A-at-B", "secret-A-at-B", code="B.W00"),))
    b = _settings(tmp_path, "B", make_database_url("sdk_b"),
                  upstream=RemoteHubSettings(url_a, "B-at-A", "secret-B-at-A", code="A.W00"))
    with running_hubs(a, b, socks=[sock_a, sock_b]) as (hub_a, hub_b):
        hub_a.ledger.add_system("sys-h41", "secret-h41", [H41], name="UBND Nghe An")
        hub_a.ledger.add_system("B-at-A", "secret-B-at-A", ["*"], kind="hub")
        hub_b.ledger.add_system("sys-g22", "secret-g22", [G22], name="VPCP")
        hub_b.ledger.add_system("sys-g12", "secret-g12", [G12], name="Bo Y te")
        hub_b.ledger.add_system("A-at-B", "secret-A-at-B", ["*"], kind="hub")
        yield hub_a, hub_b


def _pkg(n: int, *recipients: str) -> bytes:
    return build_package(sample_edoc(n, recipients=tuple(Organization(r) for r in recipients)))


def _inbox(hub, system: str, secret: str, messagetype: str = "edoc", n: int = 1) -> list[dict]:
    inst = SdkInstance(hub.url, system, secret)
    return wait_for(lambda: (lambda r: r.data if r and r.data is not None and len(r.data) >= n else None)(
        inst.get_received_edoc_list({"servicetype": "eDoc", "messagetype": messagetype})))


def _metrics(hub) -> str:
    return httpx.get(f"{hub.url}/metrics").text


def _count(hub, model, *where) -> int:
    with hub.ledger.reader() as s:
        return int(s.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


# -- 1. every FAIL answer reaches the agency software -------------------------------------------

def test_every_refusal_is_surfaced_by_the_sdk_with_its_reason(hubs) -> None:
    hub_a, _ = hubs
    wrong = SdkInstance(hub_a.url, "sys-h41", "wrong-secret")
    sent = wrong.send_edoc(SEND, _pkg(1, G22))
    assert sent is not None and sent.status == "FAIL" and sent.doc_id == "" and "bad signature" in sent.error_desc
    for call in (lambda: wrong.get_received_edoc_list(LIST), lambda: wrong.get_sent_edoc_list(LIST),
                 lambda: wrong.get_agencies_list(), lambda: wrong.count_receive_edoc()):
        result = call()
        assert result is not None and result.status == "FAIL" and result.error_code != "0", result
        assert "bad signature" in result.error_desc and result.data is None and result.count is None

    inst = SdkInstance(hub_a.url, "sys-h41", "secret-h41")
    not_xml = inst.send_edoc(SEND, b"%PDF-1.4 this is not a package")
    assert not_xml.status == "FAIL" and not_xml.doc_id == ""
    assert "not an XML document" in not_xml.error_desc and "truncated" not in not_xml.error_desc
    missing = inst.get_edoc({"docId": "no-such-doc"})
    assert missing.status == "FAIL" and "no document" in missing.error_desc and missing.data is None
    update = inst.update_status({"docid": "no-such-doc", "status": "done"})
    assert update.status == "FAIL" and "no document" in update.error_desc
    download = inst.download_edoc({"docId": "no-such-doc"})
    assert download.status == "FAIL" and download.error_code == "100"  # nothing saved as the document
    for result in (inst.register_agency({}, {"id": "1", "code": "X", "name": "x"}),
                   inst.delete_agency({"AgencyCode": G22})):
        assert result is not None and result.status == "FAIL" and "operator" in result.error_desc


def test_conflict_is_logged_with_its_document_id_and_counted_per_system(hubs, caplog) -> None:
    hub_a, _ = hubs
    inst = SdkInstance(hub_a.url, "sys-h41", "secret-h41")
    edoc = sample_edoc(11, recipients=(Organization(G22),))
    assert inst.send_edoc(SEND, build_package(edoc)).status == "OK"
    changed = build_package(sample_edoc(11, recipients=(Organization(G12),)))
    with caplog.at_level(logging.WARNING, logger="lienthong.axis"):
        refused = inst.send_edoc(SEND, changed)
    assert refused.status == "FAIL" and refused.error_code == "409" and refused.doc_id == ""
    record = next(r for r in caplog.records if "refused" in r.getMessage())
    assert record.document_id == edoc.header.document_id and record.reason == "conflict"
    assert record.system_id == "sys-h41"
    assert 'lienthong_refusals_total{reason="conflict",system="sys-h41"} 1.0' in _metrics(hub_a)


# -- 2. a signed header set binds its operation; replays never create anything ------------------

def test_replayed_list_headers_cannot_submit_a_package(hubs) -> None:
    hub_a, _ = hubs
    inst = SdkInstance(hub_a.url, "sys-h41", "secret-h41")
    assert inst.get_received_edoc_list(LIST).status == "OK"
    logged = inst.last_request  # what agency software writes to its log
    forged = httpx.post(f"{hub_a.url}/sendEdoc", content=_pkg(21, G22) + b"\r\n", headers=logged)
    body = forged.json()
    assert forged.status_code == 401 and body["status"] == "FAIL" and body["DocId"] == ""
    assert "hash-file" in body["ErrorDesc"]
    assert _count(hub_a, Submission) == 0
    assert 'lienthong_refusals_total{reason="unbound",system="sys-h41"} 1.0' in _metrics(hub_a)


def test_send_edoc_without_hash_file_is_refused(hubs) -> None:
    from hubkit import sdk_headers

    hub_a, _ = hubs
    headers = sdk_headers("sys-h41", "secret-h41", SEND, "application/octet-stream")
    r = httpx.post(f"{hub_a.url}/sendEdoc", content=_pkg(22, G22) + b"\r\n", headers=headers)
    assert r.status_code == 401 and "hash-file" in r.json()["ErrorDesc"] and _count(hub_a, Submission) == 0


# -- 3. timestamps as the real SDK sends them ----------------------------------------------------

def test_jvm_in_utc_is_told_how_to_fix_it_and_accepted_once_configured(hubs) -> None:
    hub_a, _ = hubs
    inst = SdkInstance(hub_a.url, "sys-h41", "secret-h41", zone=UTC)
    refused = inst.get_received_edoc_list(LIST)
    assert refused.status == "FAIL" and "--utc-offset 0" in refused.error_desc
    assert 'lienthong_refusals_total{reason="timestamp_zone",system="sys-h41"} 1.0' in _metrics(hub_a)
    hub_a.app.state.hub.clocks.set("sys-h41", utc_offset_minutes=0, max_age_seconds=None, actor="test")
    assert SdkInstance(hub_a.url, "sys-h41", "secret-h41", zone=UTC).get_received_edoc_list(LIST).status == "OK"
    # a timestamp from the future stays refused whatever the zone
    ahead = SdkInstance(hub_a.url, "sys-h41", "secret-h41", zone=UTC, created=datetime.now(UTC) + timedelta(hours=1))
    assert ahead.get_received_edoc_list(LIST).status == "FAIL"


def test_long_lived_instance_is_accepted_and_replays_take_no_effect(hubs) -> None:
    hub_a, hub_b = hubs
    # one instance created three hours ago, as agency software keeps it
    old = SdkInstance(hub_b.url, "sys-g22", "secret-g22", created=datetime.now(VN) - timedelta(hours=3))
    first = old.send_edoc({"from": "sys-g22", "servicetype": "eDoc", "messagetype": "edoc"},
                          build_package(sample_edoc(31, sender=Organization(G22), recipients=(Organization(H41),))))
    assert first.status == "OK" and first.doc_id
    send_request = dict(old.last_request)
    # reads are refused until the operator says the system keeps instances for long ...
    read = old.get_received_edoc_list(LIST)
    assert read.status == "FAIL" and "--max-age" in read.error_desc
    hub_b.app.state.hub.clocks.set("sys-g22", utc_offset_minutes=None, max_age_seconds=86400, actor="test")
    # ... then the same instance reads, fetches and acknowledges
    SdkInstance(hub_a.url, "sys-h41", "secret-h41").send_edoc(SEND, _pkg(32, G22))
    wait_for(lambda: (old.get_received_edoc_list(LIST) or None) and old.get_received_edoc_list(LIST).data)
    doc = old.get_received_edoc_list(LIST).data[0]["docId"]
    assert old.get_edoc({"docId": doc}).status == "OK"
    assert old.update_status({"docid": doc, "status": "done"}).status == "OK"
    update_request = dict(old.last_request)

    # the exact sendEdoc again (a replay, or the SDK retrying): same DocId, nothing new
    subs = _count(hub_b, Submission)
    body = build_package(sample_edoc(31, sender=Organization(G22), recipients=(Organization(H41),))) + b"\r\n"
    replay = httpx.post(f"{hub_b.url}/sendEdoc", content=body, headers=send_request).json()
    assert replay["status"] == "OK" and replay["DocId"] == first.doc_id and _count(hub_b, Submission) == subs
    # the exact updateStatus again: answered OK, no second effect
    audits = _count(hub_b, AuditEntry, AuditEntry.event == "inbox.update_status")
    again = httpx.post(f"{hub_b.url}/updateStatus", content=b"{}", headers=update_request).json()
    assert again["status"] == "OK" and _count(hub_b, AuditEntry, AuditEntry.event == "inbox.update_status") == audits
    # the updateStatus headers (which still carry the instance's hash-file) replayed on sendEdoc: refused
    cross = httpx.post(f"{hub_b.url}/sendEdoc", content=body, headers=update_request)
    assert cross.status_code == 409 and "already used for updateStatus" in cross.json()["ErrorDesc"]
    assert _count(hub_b, SignedRequest, SignedRequest.operation == "updateStatus") == 1


# -- 4. the 'to' header never drops a recipient silently -----------------------------------------

def test_stale_to_of_a_reused_instance_is_an_explicit_partial_send_completed_later(hubs) -> None:
    hub_a, hub_b = hubs
    inst = SdkInstance(hub_a.url, "sys-h41", "secret-h41")
    assert inst.send_edoc({**SEND, "to": [G22]}, _pkg(41, G22)).status == "OK"
    both = _pkg(42, G22, G12)
    partial = inst.send_edoc(SEND, both)  # no 'to' in this call: the instance still sends [G22]
    assert json.loads(inst.last_request["XroadVnpt-to"]) == [G22]
    assert partial.status == "OK" and partial.doc_id and f"NOT sent to {G12}" in partial.error_desc
    with hub_a.ledger.reader() as s:
        notes = s.execute(select(AuditEntry.detail).where(AuditEntry.event == "submission.partial")).scalars().all()
    assert [json.loads(n)["left_out"] for n in notes] == [[G12]]
    rows = SdkInstance(hub_a.url, "sys-h41", "secret-h41").get_sent_edoc_list(LIST).data
    assert sorted(r["toCode"] for r in rows if r["senderDocId"] == partial.doc_id) == [G22]
    # a 'to' naming an organisation the package does not address is refused
    foreign = inst.send_edoc({**SEND, "to": [G12]}, _pkg(43, G22))
    assert foreign.status == "FAIL" and "does not address" in foreign.error_desc and foreign.doc_id == ""

    assert len(_inbox(hub_b, "sys-g22", "secret-g22", n=2)) == 2
    # the same package again without 'to' (a fresh instance): G12 is added to the same submission
    again = SdkInstance(hub_a.url, "sys-h41", "secret-h41").send_edoc(SEND, both)
    assert again.status == "OK" and again.doc_id == partial.doc_id and again.error_desc == ""
    g12 = _inbox(hub_b, "sys-g12", "secret-g12")
    assert len(g12) == 1
    rows = SdkInstance(hub_a.url, "sys-h41", "secret-h41").get_sent_edoc_list(LIST).data
    per = {r["toCode"]: r for r in rows if r["senderDocId"] == partial.doc_id}
    assert set(per) == {G22, G12} and {r["sendStatus"] for r in per.values()} <= {"pending", "sent"}


# -- 5. business operations: update, replace, revoke reuse the DocumentId ------------------------

def test_update_replace_revoke_reach_the_recipient_in_order_through_two_hubs(hubs) -> None:
    hub_a, hub_b = hubs
    inst = SdkInstance(hub_a.url, "sys-h41", "secret-h41")
    names = ("valid_edoc_new", "valid_edoc_update", "valid_edoc_replace", "valid_edoc_revoke")
    ids = []
    for name in names:
        result = inst.send_edoc(SEND, (FIXTURES / f"{name}.edxml").read_bytes())
        assert result.status == "OK", result
        ids.append(result.doc_id)
    assert len(set(ids)) == 4
    # the same bytes again: the same submission
    assert inst.send_edoc(SEND, (FIXTURES / "valid_edoc_update.edxml").read_bytes()).doc_id == ids[1]
    # a different payload for the same operation on the same document: conflict
    changed = (FIXTURES / "valid_edoc_update.edxml").read_bytes().replace(b"</edXML:Subject>", b" (b)</edXML:Subject>", 1)
    assert changed != (FIXTURES / "valid_edoc_update.edxml").read_bytes()
    conflict = inst.send_edoc(SEND, changed)
    assert conflict.status == "FAIL" and conflict.error_code == "409"
    # withdrawal by status 13 goes to the document's recipients
    assert inst.send_edoc({**SEND, "messagetype": "status"}, (FIXTURES / "valid_status_13.edxml").read_bytes()).status == "OK"

    reader = SdkInstance(hub_b.url, "sys-g22", "secret-g22")
    items = _inbox(hub_b, "sys-g22", "secret-g22", n=4)
    kinds = []
    for item in items:
        pkg = parse_package(reader.get_edoc({"docId": item["docId"]}).data).package
        kinds.append(int(pkg.business_type))
    assert kinds == [0, 2, 3, 1]
    statuses = _inbox(hub_b, "sys-g12", "secret-g12", messagetype="status")
    assert len(statuses) == 1
    history = httpx.get(f"{hub_a.url}/api/v1/documents/{parse_package((FIXTURES / 'valid_edoc_new.edxml').read_bytes()).package.header.document_id}/history",
                        headers={"X-API-Key": OPERATOR_KEY}).json()["history"]
    assert [h.get("business_type") for h in history if h.get("message_type") == "edoc"] == [0, 2, 3, 1]
    assert [h.get("status_code") for h in history if h.get("message_type") == "status"] == ["13"]


# -- 6. per-recipient status upstream ------------------------------------------------------------

def test_sent_list_reports_each_recipient_in_axis_values(hubs) -> None:
    hub_a, hub_b = hubs
    edoc = sample_edoc(61, recipients=(Organization(G22), Organization(G12)))
    sent = SdkInstance(hub_a.url, "sys-h41", "secret-h41").send_edoc(SEND, build_package(edoc))
    _inbox(hub_b, "sys-g22", "secret-g22")
    status = build_package(sample_status(for_edoc=edoc))  # 03 from G22 only
    g22 = SdkInstance(hub_b.url, "sys-g22", "secret-g22")
    assert g22.send_edoc({"from": "sys-g22", "servicetype": "eDoc", "messagetype": "status"}, status).status == "OK"
    lister = SdkInstance(hub_a.url, "sys-h41", "secret-h41")

    def rows():
        data = lister.get_sent_edoc_list(LIST).data
        per = {r["toCode"]: r for r in data if r["senderDocId"] == sent.doc_id}
        return per if per.get(G22, {}).get("receiveStatus") == "03" else None

    per = wait_for(rows)
    assert set(per) == {G22, G12}
    assert per[G22]["receiveStatusDesc"] == "Đã tiếp nhận" and per[G12]["receiveStatus"] == ""
    assert per[G22]["sendStatus"] == per[G12]["sendStatus"] == "sent"
    assert not any(r["sendStatus"].startswith("S0") for r in per.values())


def test_resent_status_package_is_recorded_once(hubs) -> None:
    hub_a, hub_b = hubs
    edoc = sample_edoc(71, recipients=(Organization(G22),))
    SdkInstance(hub_a.url, "sys-h41", "secret-h41").send_edoc(SEND, build_package(edoc))
    _inbox(hub_b, "sys-g22", "secret-g22")
    status = build_package(sample_status(for_edoc=edoc))
    header = {"from": "sys-g22", "servicetype": "eDoc", "messagetype": "status"}
    first = SdkInstance(hub_b.url, "sys-g22", "secret-g22").send_edoc(header, status)
    again = SdkInstance(hub_b.url, "sys-g22", "secret-g22").send_edoc(header, status)
    assert first.status == again.status == "OK" and first.doc_id == again.doc_id
    assert _count(hub_b, StatusEvent) == 1
    assert _count(hub_b, Submission, Submission.message_type == "status") == 1


# -- 8. case-variant names of a reused instance ---------------------------------------------------

def test_reused_instance_with_docId_and_docid_disagreeing_is_refused(hubs) -> None:
    hub_a, hub_b = hubs
    sender = SdkInstance(hub_a.url, "sys-h41", "secret-h41")
    sender.send_edoc(SEND, _pkg(81, G22))
    sender.send_edoc(SEND, _pkg(82, G22))
    first, second = (i["docId"] for i in _inbox(hub_b, "sys-g22", "secret-g22", n=2))
    inst = SdkInstance(hub_b.url, "sys-g22", "secret-g22")
    assert inst.get_edoc({"docId": first}).status == "OK"
    assert inst.update_status({"docid": first, "status": "done"}).status == "OK"  # docId == docid: fine
    assert "XroadVnpt-docId" in inst.last_request and "XroadVnpt-docid" in inst.last_request
    clash = inst.get_edoc({"docId": second})  # docId=second, docid=first (left from updateStatus)
    assert clash.status == "FAIL" and "different values" in clash.error_desc and clash.data is None
    assert 'reason="header_case_conflict",system="sys-g22"' in _metrics(hub_b)


def test_download_refusal_has_an_empty_body_and_the_reason_in_headers(hubs) -> None:
    from hubkit import sdk_call

    hub_a, _ = hubs
    r = sdk_call(hub_a.url, "downloadEdoc", "sys-h41", "secret-h41", {"docId": "nope"}, method="GET")
    assert r.status_code == 404 and r.content == b""
    assert r.headers["X-Lienthong-Status"] == "FAIL" and "no document" in r.headers["X-Lienthong-ErrorDesc"]
    assert base64  # (imported for getEdoc payloads above)
