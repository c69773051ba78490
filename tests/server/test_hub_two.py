"""Two real hubs on 127.0.0.1 with separate databases: forward, receive, acknowledge, statuses back."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import httpx
import pytest
from hubkit import running_hubs, sdk_call, sdk_send, wait_for

from gateway.config import HubSettings, RemoteHubSettings
from gateway.edxml import Organization, StatusCode, build_package, parse_package
from gateway.edxml.samples import sample_edoc, sample_status
from gateway.ledger import verify_chain

pytestmark = pytest.mark.db

H41 = "000.00.00.H41"
G22 = "000.00.00.G22"
OPERATOR_KEY = "op-key-for-tests"


def _settings(tmp_path: Path, name: str, url: str, **kw) -> HubSettings:
    from gateway.config import hash_operator_key

    return HubSettings(data_dir=tmp_path / name, database_url=url, node_id=f"{name}.W00",
                       delivery_poll_seconds=0.1, delivery_backoff_base_seconds=0.1,
                       operator_key_hashes=(hash_operator_key(OPERATOR_KEY),), **kw)


@pytest.fixture
def two_hubs(tmp_path: Path, make_database_url):
    from hubkit import free_socket

    sock_a, sock_b = free_socket(), free_socket()
    url_a = f"http://127.0.0.1:{sock_a.getsockname()[1]}"
    url_b = f"http://127.0.0.1:{sock_b.getsockname()[1]}"
    directory = tmp_path / "directory.json"
    directory.write_text(json.dumps([{"code": G22, "name": "VPCP", "centerCode": "B.W00"}]))
    a = _settings(tmp_path, "A", make_database_url("hub_a"), directory_file=directory,
                  peers=(RemoteHubSettings(url_b, "A-at-B", "secret-A-at-B", code="B.W00"),))
    b = _settings(tmp_path, "B", make_database_url("hub_b"),
                  upstream=RemoteHubSettings(url_a, "B-at-A", "secret-B-at-A", code="A.W00"))
    with running_hubs(a, b, socks=[sock_a, sock_b]) as (hub_a, hub_b):
        hub_a.ledger.add_system("sys-h41", "secret-h41", [H41], name="UBND Nghe An")
        hub_a.ledger.add_system("B-at-A", "secret-B-at-A", ["*"], kind="hub")
        hub_b.ledger.add_system("sys-g22", "secret-g22", [G22], name="VPCP")
        hub_b.ledger.add_system("A-at-B", "secret-A-at-B", ["*"], kind="hub")
        yield hub_a, hub_b


def _ok(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "OK", body
    return body


def test_package_forwarded_received_acknowledged_and_statuses_travel_back(two_hubs) -> None:
    hub_a, hub_b = two_hubs
    edoc = sample_edoc(7001, recipients=(Organization(G22, "Văn phòng Chính phủ"),))
    data = build_package(edoc)
    doc_id = _ok(sdk_send(hub_a.url, "sys-h41", "secret-h41", data))["DocId"]
    # the same package again is the same submission
    assert _ok(sdk_send(hub_a.url, "sys-h41", "secret-h41", data))["DocId"] == doc_id

    items = wait_for(lambda: _ok(sdk_call(hub_b.url, "getReceivedEdocList", "sys-g22", "secret-g22",
                                          {"servicetype": "eDoc", "messagetype": "edoc"}, body=b""))["data"])
    assert len(items) == 1 and items[0]["from"] == H41 and items[0]["messageType"] == "edoc"
    received_id = items[0]["docId"]
    count = _ok(sdk_call(hub_b.url, "countReceiveEdoc", "sys-g22", "secret-g22", {}, method="GET"))["count"]
    assert count == 1

    got = base64.b64decode(_ok(sdk_call(hub_b.url, "getEdoc", "sys-g22", "secret-g22",
                                        {"docId": received_id, "filePath": "/tmp/x"}))["data"])
    pkg = parse_package(got).package
    assert pkg.header.document_id == edoc.header.document_id
    assert [t.organ_id for t in pkg.trace.trace_headers] == [H41, "A.W00", "B.W00"]
    assert pkg.attachments == edoc.attachments

    raw = sdk_call(hub_b.url, "downloadEdoc", "sys-g22", "secret-g22", {"docId": received_id}, method="GET")
    assert raw.status_code == 200 and raw.content == got

    _ok(sdk_call(hub_b.url, "updateStatus", "sys-g22", "secret-g22", {"docid": received_id, "status": "done"}))
    assert _ok(sdk_call(hub_b.url, "getReceivedEdocList", "sys-g22", "secret-g22",
                        {"servicetype": "eDoc", "messagetype": "edoc"}, body=b""))["data"] == []

    for code in (StatusCode.RECEIVED, StatusCode.ACCEPTED):
        status = build_package(sample_status(code, for_edoc=edoc))
        _ok(sdk_send(hub_b.url, "sys-g22", "secret-g22", status, messagetype="status"))

    # the statuses reach the sender's inbox on hub A ...
    statuses = wait_for(lambda: (lambda d: d if len(d) == 2 else None)(
        _ok(sdk_call(hub_a.url, "getReceivedEdocList", "sys-h41", "secret-h41",
                     {"servicetype": "eDoc", "messagetype": "status"}, body=b""))["data"]))
    codes = set()
    for item in statuses:
        st = parse_package(base64.b64decode(_ok(sdk_call(hub_a.url, "getEdoc", "sys-h41", "secret-h41",
                                                         {"docId": item["docId"]}))["data"])).package
        codes.add(st.status_code.wire)
        assert [t.organ_id for t in st.trace.trace_headers] == ["B.W00", "A.W00"]
    assert codes == {"01", "03"}

    # ... and show up in hub A's operator timeline of the forwarded message
    key = {"X-API-Key": OPERATOR_KEY}
    listing = httpx.get(f"{hub_a.url}/api/v1/messages", params={"document_id": edoc.header.document_id,
                                                                 "state": "S03_ACCEPTED"}, headers=key).json()
    assert len(listing.get("messages", [])) == 1, listing
    forwarded = listing["messages"][0]
    assert forwarded["route"] == "peer" and forwarded["destination"] == "B.W00" and forwarded["remoteDocId"]
    timeline = httpx.get(f"{hub_a.url}/api/v1/messages/{forwarded['docId']}", headers=key).json()
    assert [e["statusCode"] for e in timeline["statusEvents"]] == ["01", "03"]
    assert [a["outcome"] for a in timeline["attempts"]] == ["delivered"]
    states = [e["detail"]["to"] for e in timeline["audit"] if e["event"] == "message.state"]
    assert states == ["SENT", "S01_RECEIVED", "S03_ACCEPTED"]
    assert httpx.get(f"{hub_a.url}/api/v1/messages", headers={"X-API-Key": "wrong"}).status_code == 401

    sent = _ok(sdk_call(hub_a.url, "getSentEdocList", "sys-h41", "secret-h41",
                        {"servicetype": "eDoc", "messagetype": "edoc"}))["data"]
    assert sent[0]["senderDocId"] == doc_id and sent[0]["receiveStatus"] == "03"

    for hub in (hub_a, hub_b):
        with hub.ledger.reader() as s:
            report = verify_chain(s)
        assert report.ok, report.problems
        assert report.entries > 3

    metrics = httpx.get(f"{hub_a.url}/metrics").text
    assert 'lienthong_messages{state="S03_ACCEPTED"} 1.0' in metrics
    assert "lienthong_delivery_latency_seconds_count 3.0" in metrics  # 1 forward + 2 statuses fetched
    # the per-process memory gauges name the answering process (each hub runs in this one)
    pid = f'{{pid="{os.getpid()}"}}'
    for gauge in ("lienthong_process_resident_bytes", "lienthong_sqlite_heap_bytes", "lienthong_malloc_in_use_bytes",
                  "lienthong_malloc_free_bytes", "lienthong_python_allocated_blocks"):
        line = next(x for x in metrics.splitlines() if x.startswith(gauge + pid))
        assert float(line.rsplit(" ", 1)[1]) > 0, line
    health = httpx.get(f"{hub_b.url}/healthz").json()
    assert health["database"] == "ok" and health["upstream"] == "reachable"
