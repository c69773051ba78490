"""An independent client (hubkit, written from the doc) authenticates; forgeries and bad input are refused."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hubkit import VN, running_hubs, sdk_headers, sdk_send, sdk_timestamp

from gateway.config import HubSettings
from gateway.edxml import Organization, build_package
from gateway.edxml.samples import sample_edoc

pytestmark = pytest.mark.db

H41 = "000.00.00.H41"
G22 = "000.00.00.G22"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, migrated_sqlite: Path):
    import os
    import shutil
    import uuid

    from sqlalchemy import create_engine, text

    tmp = tmp_path_factory.mktemp("auth")
    base = os.environ.get("LIENTHONG_TEST_DATABASE_URL")
    schema = None
    if base:
        from db_fixtures import _pg_schema_url

        schema = f"t_auth_{uuid.uuid4().hex[:10]}"
        with create_engine(base).begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = _pg_schema_url(base, schema)
    else:
        shutil.copyfile(migrated_sqlite, tmp / "auth.db")  # tests/db_fixtures.py: migrated once per session
        url = f"sqlite:///{tmp / 'auth.db'}"
    settings = HubSettings(data_dir=tmp / "data", database_url=url, node_id="AUTH.W00", timestamp_window_seconds=300,
                           max_request_bytes=200_000)
    with running_hubs(settings) as (h,):
        h.ledger.add_system("sys-h41", "right-secret", [H41])
        h.ledger.add_system("sys-g22", "g22-secret", [G22])
        yield h
    if schema:
        with create_engine(base).begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def _package(n: int) -> bytes:
    return build_package(sample_edoc(n, recipients=(Organization(G22),)))


def _fail(response: httpx.Response, status: int, needle: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "FAIL" and needle in body["ErrorDesc"], body


def test_independent_client_authenticates(hub) -> None:
    r = sdk_send(hub.url, "sys-h41", "right-secret", _package(1))
    assert r.status_code == 200 and r.json()["status"] == "OK" and r.json()["DocId"]


def test_wrong_secret_is_refused(hub) -> None:
    _fail(sdk_send(hub.url, "sys-h41", "wrong-secret", _package(2)), 401, "bad signature")


def test_unknown_system_is_refused(hub) -> None:
    _fail(sdk_send(hub.url, "nobody", "x", _package(2)), 401, "unknown system")


def test_tampered_header_is_refused(hub) -> None:
    # the individual header no longer matches the signed JSON
    _fail(sdk_send(hub.url, "sys-h41", "right-secret", _package(3), tamper={"XroadVnpt-messagetype": "status"}),
          401, "differs from its signed value")
    # the signed JSON itself altered: the HMAC no longer matches
    data = _package(3)
    r = sdk_send(hub.url, "sys-h41", "right-secret", data)
    assert r.status_code == 200
    headers = sdk_headers("sys-h41", "right-secret", {"from": "sys-h41", "servicetype": "eDoc",
                                                       "messagetype": "edoc", "hash-file": "00"},
                          "application/octet-stream")
    headers["XroadVnpt-sign-header"] = headers["XroadVnpt-sign-header"].replace("sys-h41", "sys-g22")
    headers["XroadVnpt-systemid"] = "sys-g22"
    _fail(httpx.post(f"{hub.url}/sendEdoc", content=data + b"\r\n", headers=headers), 401, "bad signature")


def test_body_not_matching_hash_file_is_refused(hub) -> None:
    data = _package(4)
    headers = sdk_headers("sys-h41", "right-secret", {"from": "sys-h41", "servicetype": "eDoc",
                                                       "messagetype": "edoc", "hash-file": "abc"},
                          "application/octet-stream")
    _fail(httpx.post(f"{hub.url}/sendEdoc", content=data + b"\r\n", headers=headers), 422, "hash-file")


def test_old_timestamp_refused_on_reads_future_refused_everywhere(hub) -> None:
    old = sdk_timestamp(datetime.now(VN) - timedelta(hours=2))
    headers = sdk_headers("sys-h41", "right-secret", {"servicetype": "eDoc", "messagetype": "edoc"},
                          "application/json", old)
    _fail(httpx.post(f"{hub.url}/getReceivedEdocList", content=b"", headers=headers), 401, "s old (limit 300 s")
    # a sendEdoc is bound to its body by hash-file and protected by the replay cache: an old
    # timestamp (a long-lived SDK instance) is accepted there
    assert sdk_send(hub.url, "sys-h41", "right-secret", _package(5), timestamp=old).json()["status"] == "OK"
    future = sdk_timestamp(datetime.now(VN) + timedelta(minutes=30))
    _fail(sdk_send(hub.url, "sys-h41", "right-secret", _package(5), timestamp=future), 401, "window 300 s")


def test_sender_organ_not_registered_is_refused(hub) -> None:
    # sys-g22 signs correctly but the package's From is H41
    _fail(sdk_send(hub.url, "sys-g22", "g22-secret", _package(6)), 403, "not registered for sender OrganId")


def test_missing_signature_is_refused(hub) -> None:
    _fail(httpx.post(f"{hub.url}/sendEdoc", content=b"<x/>"), 401, "missing XroadVnpt-sign-header")


def test_invalid_package_is_refused_with_location(hub) -> None:
    bad = Path(__file__).resolve().parents[1] / "fixtures" / "edxml" / "invalid_missing_from.edxml"
    r = sdk_send(hub.url, "sys-h41", "right-secret", bad.read_bytes())
    assert r.status_code == 422 and r.json()["status"] == "FAIL"
    assert "From" in r.json()["ErrorDesc"]


def test_oversized_body_is_refused(hub) -> None:
    _fail(sdk_send(hub.url, "sys-h41", "right-secret", b"<a>" + b"x" * 300_000 + b"</a>"), 413, "over the limit")


def test_conflicting_payload_under_same_document_id(hub) -> None:
    edoc = sample_edoc(8, recipients=(Organization(G22),))
    assert sdk_send(hub.url, "sys-h41", "right-secret", build_package(edoc)).status_code == 200
    changed = build_package(edoc.__class__(edoc.header.__class__(**{**_fields(edoc.header), "subject": "khác"}),
                                           edoc.trace, edoc.attachments))
    _fail(sdk_send(hub.url, "sys-h41", "right-secret", changed), 409, "different content")


def _fields(obj) -> dict:
    return {f: getattr(obj, f) for f in obj.__dataclass_fields__}


def test_agencies_list(hub) -> None:
    headers = sdk_headers("sys-h41", "right-secret", {}, "application/json")
    body = httpx.post(f"{hub.url}/getAgenciesList", content=b"{}", headers=headers).json()
    assert body["status"] == "OK" and {a["code"] for a in body["data"]} >= {H41, G22}
    assert json.dumps(body).count("right-secret") == 0
