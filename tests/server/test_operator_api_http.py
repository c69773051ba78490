"""The operator API's retry and statistics endpoints over real HTTP on a real hub.

A hub whose upstream is down turns a forwarded document DEAD after its one allowed attempt; the
operator then re-queues it through ``POST /api/v1/messages/{docId}/retry`` and the audit trail
keeps who and why. ``GET /api/v1/stats/agencies`` counts messages per sender and state.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from hubkit import free_port, running_hubs, sdk_send, wait_for

from gateway.config import HubSettings, RemoteHubSettings, hash_operator_key
from gateway.edxml import Organization, build_package
from gateway.edxml.samples import sample_edoc
from gateway.ledger import verify_chain

pytestmark = pytest.mark.db

H41 = "000.00.00.H41"
G22 = "000.00.00.G22"
UPSTREAM_ONLY = "000.00.00.Z99"
KEY = "op-key-for-the-retry-tests"


@pytest.fixture
def hub(tmp_path: Path, database_url: str):
    dead = f"http://127.0.0.1:{free_port()}"
    settings = HubSettings(data_dir=tmp_path / "data", database_url=database_url, node_id="OPS.W00",
                           delivery_max_attempts=1, delivery_poll_seconds=0.1,
                           delivery_backoff_base_seconds=0.1, client_retries=0, client_timeout_seconds=2,
                           operator_key_hashes=(hash_operator_key(KEY),),
                           upstream=RemoteHubSettings(dead, "me-upstream", "up-secret", code="UP"))
    with running_hubs(settings) as (h,):
        h.ledger.add_system("sys-h41", "s-h41", [H41])
        h.ledger.add_system("sys-g22", "s-g22", [G22])
        yield h


def _api(hub, method: str, path: str, **kw) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.request(method, f"{hub.url}/api/v1{path}", headers={"X-API-Key": KEY}, timeout=10, **kw)


def _doc_id(hub, document_id: str, route_state: str | None = None) -> str:  # type: ignore[no-untyped-def]
    rows = _api(hub, "GET", "/messages", params={"document_id": document_id}).json()["messages"]
    assert rows, document_id
    return str(rows[0]["docId"])


def _state(hub, doc_id: str) -> str:  # type: ignore[no-untyped-def]
    return str(_api(hub, "GET", f"/messages/{doc_id}").json()["message"]["state"])


def test_retry_requeues_a_dead_message_and_audits_who_and_why(hub) -> None:
    doc = sample_edoc(9401, attachments=0, recipients=(Organization(UPSTREAM_ONLY),))
    assert sdk_send(hub.url, "sys-h41", "s-h41", build_package(doc)).json()["status"] == "OK"
    doc_id = _doc_id(hub, doc.header.document_id)
    wait_for(lambda: _state(hub, doc_id) == "DEAD", timeout=30, interval=0.2)

    too_short = _api(hub, "POST", f"/messages/{doc_id}/retry", json={"reason": "x"})
    assert too_short.status_code == 422
    no_key = httpx.post(f"{hub.url}/api/v1/messages/{doc_id}/retry", json={"reason": "upstream back"}, timeout=10)
    assert no_key.status_code == 401
    assert _state(hub, doc_id) == "DEAD"  # neither refused call changed anything

    r = _api(hub, "POST", f"/messages/{doc_id}/retry", json={"reason": "upstream is back (ticket 17)"})
    assert r.status_code == 200, r.text
    assert r.json() == {"docId": doc_id, "state": "QUEUED"}
    timeline = _api(hub, "GET", f"/messages/{doc_id}").json()
    audited = [a for a in timeline["audit"] if "upstream is back (ticket 17)" in json.dumps(a["detail"], ensure_ascii=False)]
    assert len(audited) == 1, timeline["audit"]
    entry = audited[0]
    assert entry["event"] == "message.state" and entry["actor"] == f"operator:{hash_operator_key(KEY)[:12]}"
    assert {k: entry["detail"][k] for k in ("from", "to", "operator_action")} == {
        "from": "DEAD", "to": "QUEUED", "operator_action": "requeue"}
    # the worker tries again (the upstream is still down) and the message goes back to DEAD
    wait_for(lambda: _state(hub, doc_id) == "DEAD", timeout=30, interval=0.2)
    with hub.ledger.reader() as s:
        assert verify_chain(s).ok


def test_retry_of_a_message_that_is_not_failed_is_a_conflict_and_unknown_is_404(hub) -> None:
    doc = sample_edoc(9402, attachments=0, recipients=(Organization(G22),))  # local: stays QUEUED
    assert sdk_send(hub.url, "sys-h41", "s-h41", build_package(doc)).json()["status"] == "OK"
    doc_id = _doc_id(hub, doc.header.document_id)
    r = _api(hub, "POST", f"/messages/{doc_id}/retry", json={"reason": "operator mistake"})
    assert r.status_code == 409 and "QUEUED" in r.json()["detail"], r.text
    assert _state(hub, doc_id) == "QUEUED"
    missing = _api(hub, "POST", "/messages/no-such-doc/retry", json={"reason": "who knows"})
    assert missing.status_code == 404 and "no-such-doc" in missing.json()["detail"]
    assert _api(hub, "GET", "/messages/no-such-doc").status_code == 404


def test_stats_count_messages_per_sender_and_state(hub) -> None:
    assert _api(hub, "GET", "/stats/agencies").json() == {"agencies": {}}
    for n in (9501, 9502):
        doc = sample_edoc(n, attachments=0, recipients=(Organization(G22),))
        assert sdk_send(hub.url, "sys-h41", "s-h41", build_package(doc)).json()["status"] == "OK"
    up = sample_edoc(9503, attachments=0, recipients=(Organization(UPSTREAM_ONLY),))
    assert sdk_send(hub.url, "sys-h41", "s-h41", build_package(up)).json()["status"] == "OK"
    wait_for(lambda: _state(hub, _doc_id(hub, up.header.document_id)) == "DEAD", timeout=30, interval=0.2)
    stats = _api(hub, "GET", "/stats/agencies")
    assert stats.status_code == 200
    assert stats.json() == {"agencies": {H41: {"QUEUED": 2, "DEAD": 1}}}
    assert httpx.get(f"{hub.url}/api/v1/stats/agencies", headers={"X-API-Key": "nope"}, timeout=10).status_code == 401
