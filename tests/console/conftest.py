"""A real hub on 127.0.0.1 with documents sent through the axis API, for the console's tests.

The hub (tests/server/hubkit.py) has two local agency systems (UBND Nghệ An H41 and VPCP G22),
an upstream that is a closed port on 127.0.0.1 (so a document for an unknown agency goes DEAD
after one attempt), an operator key in the ledger and the test PKI's signing profiles as its
trust configuration. Sent in the fixture: a document whose PDFs carry the agency seal, answered
with status 03; a document whose subject is an XSS attempt; a document that becomes a dead letter.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console_kit import ARTIFACTS, G22, H41, PROFILES, UNKNOWN, XSS_SUBJECT  # noqa: F401
from db_fixtures import database_url, hub_settings, ledger, make_database_url, migrated_sqlite  # noqa: F401
from hubkit import free_port, running_hubs, sdk_call, sdk_send, wait_for

from gateway.config import ConsoleSettings, HubSettings
from gateway.edxml import Attachment, BytesPayload, Organization, build_package
from gateway.edxml.samples import sample_edoc, sample_status
from gateway.exchange.steps import stamp_package
from gateway.ledger.operators import add_key
from gateway.signing.profiles import load_signing_settings
from gateway.signing.sign import DocumentSigner
from gateway.signing.testing import make_sample_pdf


@dataclass
class ConsoleHub:
    url: str
    hub: object
    key: str
    signed_doc_id: str  # the sender's DocId of the signed document
    signed_code: str
    xss_code: str
    dead_code: str


def _signed_edoc(number: int):
    pkg = sample_edoc(number, attachments=0, recipients=(Organization(G22, "Văn phòng Chính phủ"),))
    pdfs = tuple(
        Attachment(
            content_id=f"aa000000-0000-4000-8000-{number:06d}{i:06d}",
            name=f"{number}-QD-UBND{'-phu-luc' if i else ''}.pdf",
            content_type="application/pdf",
            payload=BytesPayload(make_sample_pdf(1, number=number)),
            description="Văn bản" if i == 0 else "Phụ lục",
        )
        for i in range(2)
    )
    settings = load_signing_settings(PROFILES)
    with DocumentSigner(settings.profile("ubnd-thu-nghiem"), settings.trust) as signer:
        return stamp_package(replace(pkg, attachments=pdfs), signer)


@pytest.fixture(scope="module")
def module_database_url(tmp_path_factory) -> Iterator[str]:
    """SQLite, or a fresh PostgreSQL schema when LIENTHONG_TEST_DATABASE_URL is set (make test-pg)."""
    import os
    import uuid

    from db_fixtures import PG_ENV, _pg_schema_url
    from sqlalchemy import create_engine, text

    base = os.environ.get(PG_ENV)
    if not base:
        yield f"sqlite:///{tmp_path_factory.mktemp('console-db') / 'ledger.db'}"
        return
    schema = f"t_console_{uuid.uuid4().hex[:10]}"
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield _pg_schema_url(base, schema)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(scope="module")
def console_hub(tmp_path_factory, module_database_url) -> Iterator[ConsoleHub]:
    tmp = tmp_path_factory.mktemp("console")
    from gateway.config import RemoteHubSettings

    settings = HubSettings(
        data_dir=tmp / "hub",
        database_url=module_database_url,
        node_id="02.41.W00",
        delivery_poll_seconds=0.1,
        delivery_backoff_base_seconds=0.05,
        delivery_max_attempts=1,
        client_retries=0,
        client_timeout_seconds=2,
        upstream=RemoteHubSettings(f"http://127.0.0.1:{free_port()}", "up", "up-secret", code="00.22.W00"),
        console=ConsoleSettings(signing_profiles=PROFILES),
    )
    with running_hubs(settings) as (hub,):
        hub.ledger.add_system("sys-h41", "secret-h41", [H41], name="UBND tỉnh Nghệ An")
        hub.ledger.add_system("sys-g22", "secret-g22", [G22], name="Văn phòng Chính phủ")
        key = add_key(hub.ledger, "alice")
        signed = _signed_edoc(7101)
        body = sdk_send(hub.url, "sys-h41", "secret-h41", build_package(signed)).json()
        assert body["status"] == "OK", body
        inbox = sdk_call(hub.url, "getReceivedEdocList", "sys-g22", "secret-g22",
                         {"servicetype": "eDoc", "messagetype": "edoc"}, body=b"").json()["data"]
        received = inbox[0]["docId"]
        assert sdk_call(hub.url, "getEdoc", "sys-g22", "secret-g22", {"docId": received}).json()["status"] == "OK"
        done = sdk_call(hub.url, "updateStatus", "sys-g22", "secret-g22", {"docId": received, "status": "done"})
        assert done.json()["status"] == "OK", done.text
        status = sample_status(for_edoc=signed)
        got = sdk_send(hub.url, "sys-g22", "secret-g22", build_package(status), messagetype="status").json()
        assert got["status"] == "OK", got
        xss = sample_edoc(7102, attachments=0, recipients=(Organization(G22, "VPCP"),))
        xss = replace(xss, header=replace(xss.header, subject=XSS_SUBJECT))
        assert sdk_send(hub.url, "sys-h41", "secret-h41", build_package(xss)).json()["status"] == "OK"
        dead = sample_edoc(7103, attachments=0, recipients=(Organization(UNKNOWN, "Nowhere"),))
        assert sdk_send(hub.url, "sys-h41", "secret-h41", build_package(dead)).json()["status"] == "OK"

        def is_dead() -> bool:
            from gateway.ledger.queries import list_messages

            return any(m["state"] == "DEAD" for m in list_messages(hub.ledger, state="DEAD"))

        wait_for(is_dead, timeout=30)
        yield ConsoleHub(hub.url, hub, key, body["DocId"], str(signed.header.code), str(xss.header.code),
                         str(dead.header.code))
