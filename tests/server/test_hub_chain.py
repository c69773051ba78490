"""Three hubs, district → province → national: a commune's document reaches a ministry and statuses come back."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hubkit import free_socket, running_hubs, sdk_call, sdk_send, wait_for

from gateway.config import HubSettings, RemoteHubSettings
from gateway.edxml import Organization, StatusCode, build_package, parse_package
from gateway.edxml.samples import sample_edoc, sample_status

pytestmark = pytest.mark.db

COMMUNE = "000.46.24.H44"  # served by the district hub D
MINISTRY = "000.00.00.G22"  # served by the national hub N (another branch)


def _ok(r):
    assert r.status_code == 200 and r.json()["status"] == "OK", r.text
    return r.json()


def test_three_level_chain_there_and_back(tmp_path: Path, make_database_url) -> None:
    socks = {name: free_socket() for name in ("D", "P", "N")}
    url = {name: f"http://127.0.0.1:{s.getsockname()[1]}" for name, s in socks.items()}
    directory = tmp_path / "directory.json"
    directory.write_text(json.dumps({"data": [
        {"code": COMMUNE, "name": "UBND xã", "centerCode": "D.W00"},
        {"code": MINISTRY, "name": "VPCP", "centerCode": "N.W00"},
    ]}))
    common = {"delivery_poll_seconds": 0.05, "directory_file": directory}
    d = HubSettings(data_dir=tmp_path / "D", database_url=make_database_url("chain_d"), node_id="D.W00",
                    upstream=RemoteHubSettings(url["P"], "D-at-P", "s-dp", code="P.W00"), **common)
    p = HubSettings(data_dir=tmp_path / "P", database_url=make_database_url("chain_p"), node_id="P.W00",
                    upstream=RemoteHubSettings(url["N"], "P-at-N", "s-pn", code="N.W00"),
                    peers=(RemoteHubSettings(url["D"], "P-at-D", "s-pd", code="D.W00"),), **common)
    n = HubSettings(data_dir=tmp_path / "N", database_url=make_database_url("chain_n"), node_id="N.W00",
                    peers=(RemoteHubSettings(url["P"], "N-at-P", "s-np", code="P.W00", serves=("P.W00", "D.W00")),),
                    **common)
    with running_hubs(d, p, n, socks=[socks["D"], socks["P"], socks["N"]]) as (hd, hp, hn):
        hd.ledger.add_system("sys-commune", "s-commune", [COMMUNE])
        hd.ledger.add_system("P-at-D", "s-pd", ["*"], kind="hub")
        hp.ledger.add_system("D-at-P", "s-dp", ["*.H44"], kind="hub")
        hp.ledger.add_system("N-at-P", "s-np", ["*"], kind="hub")
        hn.ledger.add_system("P-at-N", "s-pn", ["*"], kind="hub")
        hn.ledger.add_system("sys-vpcp", "s-vpcp", [MINISTRY])

        edoc = sample_edoc(31, attachments=1, sender=Organization(COMMUNE, "UBND xã"),
                           recipients=(Organization(MINISTRY, "VPCP"),))
        edoc = edoc.__class__(edoc.header, edoc.trace.__class__((edoc.trace.trace_headers[0].__class__(
            COMMUNE, edoc.trace.trace_headers[0].timestamp),), edoc.trace.business), edoc.attachments)
        _ok(sdk_send(hd.url, "sys-commune", "s-commune", build_package(edoc)))

        items = wait_for(lambda: _ok(sdk_call(hn.url, "getReceivedEdocList", "sys-vpcp", "s-vpcp",
                                              {"servicetype": "eDoc", "messagetype": "edoc"}, body=b""))["data"])
        got = parse_package(base64.b64decode(_ok(sdk_call(hn.url, "getEdoc", "sys-vpcp", "s-vpcp",
                                                          {"docId": items[0]["docId"]}))["data"])).package
        assert [t.organ_id for t in got.trace.trace_headers] == [COMMUNE, "D.W00", "P.W00", "N.W00"]
        _ok(sdk_call(hn.url, "updateStatus", "sys-vpcp", "s-vpcp", {"docid": items[0]["docId"], "status": "done"}))

        for code in (StatusCode.RECEIVED, StatusCode.ACCEPTED):
            _ok(sdk_send(hn.url, "sys-vpcp", "s-vpcp", build_package(sample_status(code, for_edoc=edoc)),
                         messagetype="status"))
        statuses = wait_for(lambda: (lambda x: x if len(x) == 2 else None)(_ok(sdk_call(
            hd.url, "getReceivedEdocList", "sys-commune", "s-commune",
            {"servicetype": "eDoc", "messagetype": "status"}, body=b""))["data"]))
        for item in statuses:
            st = parse_package(base64.b64decode(_ok(sdk_call(hd.url, "getEdoc", "sys-commune", "s-commune",
                                                             {"docId": item["docId"]}))["data"])).package
            assert [t.organ_id for t in st.trace.trace_headers] == ["N.W00", "P.W00", "D.W00"]
        # every hub's ledger shows the document reaching status 03
        for hub in (hd, hp):
            with hub.ledger.reader() as s:
                from sqlalchemy import select

                from gateway.ledger.models import Message

                states = s.execute(select(Message.state).where(
                    Message.document_id == edoc.header.document_id, Message.message_type == "edoc")).scalars().all()
            assert states == ["S03_ACCEPTED"], (hub.settings.node_id, states)

        # a package that would loop is refused: the province receives one that already passed through it
        looped = sample_edoc(32, sender=Organization(COMMUNE), recipients=(Organization(MINISTRY),))
        looped = looped.__class__(looped.header, looped.trace.__class__(
            (*looped.trace.trace_headers, looped.trace.trace_headers[0].__class__(
                "P.W00", looped.trace.trace_headers[0].timestamp)), looped.trace.business), looped.attachments)
        r = sdk_send(hp.url, "D-at-P", "s-dp", build_package(looped))
        assert r.status_code == 409 and r.json()["ErrorCode"] == "508" and "loop" in r.json()["ErrorDesc"]
