"""The hub makes a package's blob durable before the ledger records (and acknowledges) it.

The hub's blob store runs without a per-file fsync; durability comes from one ``BlobStore.sync``
per group commit. If that sync were skipped, a power cut after the acknowledgement could leave a
ledger row pointing at a blob that never reached the disk — invisible to a SIGKILL test, since
the page cache survives a killed process. So this test records, on a real hub over HTTP, every
blob sync (with the blobs present at that moment) and every INSERT into the ledger's submission
table, and checks the order: the submitted package's blob was synced before the row naming it was
written.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hubkit import running_hubs, sdk_send
from sqlalchemy import event

from gateway.blobstore import BlobStore
from gateway.config import HubSettings
from gateway.edxml import Organization, build_package
from gateway.edxml.samples import sample_edoc, sample_status

pytestmark = pytest.mark.db

H41 = "000.00.00.H41"
G22 = "000.00.00.G22"


@pytest.fixture
def recorded_hub(tmp_path: Path, database_url: str, monkeypatch):
    events: list[tuple[str, object]] = []
    real_sync = BlobStore.sync

    def sync(self: BlobStore) -> None:
        events.append(("sync", frozenset(self)))  # the blobs this flush makes durable
        real_sync(self)

    monkeypatch.setattr(BlobStore, "sync", sync)
    settings = HubSettings(data_dir=tmp_path / "data", database_url=database_url, node_id="DUR.W00")
    with running_hubs(settings) as (hub,):
        hub.ledger.add_system("sys-h41", "s-h41", [H41])
        hub.ledger.add_system("sys-g22", "s-g22", [G22])

        @event.listens_for(hub.ledger.engine, "before_cursor_execute")
        def on_execute(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
            head = statement.lstrip()[:40].lower()
            if head.startswith("insert into submissions"):
                events.append(("insert-submission", None))

        yield hub, events


def _assert_synced_before_recorded(events: list[tuple[str, object]], sha: str) -> None:
    inserts = [i for i, (kind, _) in enumerate(events) if kind == "insert-submission"]
    assert inserts, f"no submission was recorded: {events}"
    first_insert = inserts[0]
    synced_before = [i for i, (kind, blobs) in enumerate(events[:first_insert])
                     if kind == "sync" and sha in blobs]  # type: ignore[operator]
    assert synced_before, f"blob {sha} was not synced before the ledger recorded it: {events}"


def test_edoc_blob_is_synced_before_its_group_commit(recorded_hub) -> None:
    hub, events = recorded_hub
    data = build_package(sample_edoc(7001, recipients=(Organization(G22),)))
    r = sdk_send(hub.url, "sys-h41", "s-h41", data)
    assert r.status_code == 200 and r.json()["status"] == "OK", r.text
    _assert_synced_before_recorded(events, hashlib.sha256(data).hexdigest())


def test_status_blob_is_synced_before_it_is_recorded(recorded_hub) -> None:
    hub, events = recorded_hub
    doc = sample_edoc(7002, attachments=0, recipients=(Organization(G22),))
    r = sdk_send(hub.url, "sys-h41", "s-h41", build_package(doc))
    assert r.json()["status"] == "OK", r.text
    events.clear()
    status = build_package(sample_status(for_edoc=doc))
    r = sdk_send(hub.url, "sys-g22", "s-g22", status, messagetype="status")
    assert r.status_code == 200 and r.json()["status"] == "OK", r.text
    _assert_synced_before_recorded(events, hashlib.sha256(status).hexdigest())
