"""The inbound receive stage tells the hub ``done`` only once the package is stored durably.

After ``updateStatus done`` the hub may forget the document, so acknowledging first and storing
second loses it whenever the store fails (disk full, I/O error, crash in between). These tests run
the stage's public ``receive`` against a real hub on 127.0.0.1, with a fault-injecting file layer
(``fsync`` of the package being stored fails with EIO), and check on the hub's side that no ``done`` arrived
for a package that was not stored — and that when ``done`` does arrive the file is already whole.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from hubkit import running_hubs, sdk_send

from gateway.config import HubSettings
from gateway.edxml import Organization, build_package
from gateway.edxml.samples import sample_edoc
from gateway.files import batched_dir_sync
from gateway.server.hub import HubService
from gateway.transport.axis import AxisClient

try:  # the stages may move to gateway.exchange; the behaviour tested is the same
    from gateway.exchange.inbound import receive  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    from gateway.exchange.inbound import receive

pytestmark = pytest.mark.db

REAL_FSYNC = os.fsync
H41 = "000.00.00.H41"
G22 = "000.00.00.G22"


@pytest.fixture
def hub_with_one_document(tmp_path: Path, database_url: str, monkeypatch):
    acks: list[tuple[str, str, bool]] = []  # (doc_id, status, package file complete at that moment)
    work = tmp_path / "work" / "inbound"
    data = build_package(sample_edoc(8101, recipients=(Organization(G22),)))
    real_update = HubService.update_status

    def update_status(self, system, doc_id, status, description, *args, **kwargs):  # type: ignore[no-untyped-def]
        stored = [p for p in work.glob("*.edxml") if p.read_bytes().startswith(b"<?xml")] if work.exists() else []
        acks.append((doc_id, status, any(p.read_bytes() == self.fetch(system, doc_id) for p in stored)))
        return real_update(self, system, doc_id, status, description, *args, **kwargs)

    monkeypatch.setattr(HubService, "update_status", update_status)
    settings = HubSettings(data_dir=tmp_path / "data", database_url=database_url, node_id="INB.W00")
    with running_hubs(settings) as (hub,):
        hub.ledger.add_system("sys-h41", "s-h41", [H41])
        hub.ledger.add_system("sys-g22", "s-g22", [G22])
        r = sdk_send(hub.url, "sys-h41", "s-h41", data)
        assert r.json()["status"] == "OK", r.text
        with AxisClient(hub.url, "sys-g22", "s-g22", retries=0, timeout=10) as client:
            yield client, work, acks


def _fail_fsync_under(folder: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    failed: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        target = os.readlink(f"/proc/self/fd/{fd}")
        # only the package's own temporary file: the error report beside it can still be written
        if target.startswith(str(folder)) and ".edxml." in target and target.endswith(".part"):
            failed.append(target)
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return failed


def test_a_package_that_could_not_be_stored_is_never_acknowledged(hub_with_one_document, monkeypatch) -> None:
    client, work, acks = hub_with_one_document
    names = [str(i["docId"]) for i in client.received_list("edoc")]
    assert len(names) == 1
    work.mkdir(parents=True)
    failed = _fail_fsync_under(work, monkeypatch)
    result = receive(client, names, work)
    assert failed, "the fault was not injected: the stage did not fsync the stored package"
    assert [i["outcome"] for i in result.report.items] == ["failed"], result.report.items
    assert acks == []  # the hub was not told done
    assert [str(i["docId"]) for i in client.received_list("edoc")] == names  # still waiting there
    assert list(work.glob("*.edxml")) == []  # and no partial file left behind


def test_done_reaches_the_hub_only_after_the_package_is_stored(hub_with_one_document, monkeypatch) -> None:
    client, work, acks = hub_with_one_document
    names = [str(i["docId"]) for i in client.received_list("edoc")]
    failed = _fail_fsync_under(work, monkeypatch)
    work.mkdir(parents=True)
    receive(client, names, work)
    assert failed and acks == []
    monkeypatch.setattr(os, "fsync", REAL_FSYNC)  # the disk recovers: the next run stores, then acknowledges
    result = receive(client, names, work)
    assert [i["outcome"] for i in result.report.items] == ["ok"], result.report.items
    assert acks == [(names[0], "done", True)]  # done arrived when the whole package was on disk
    assert client.received_list("edoc") == []


def test_inside_a_stage_the_inbox_folder_is_synced_before_done(hub_with_one_document, monkeypatch) -> None:
    """Stages fsync their folders once at the end (batched_dir_sync), but a received package's
    rename must be durable before the hub is told ``done``: the folder sync comes first."""
    client, work, acks = hub_with_one_document
    names = [str(i["docId"]) for i in client.received_list("edoc")]
    work.mkdir(parents=True)
    synced: list[int] = []  # how many acknowledgements the hub had seen at each fsync of the inbox
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}") == str(work):
            synced.append(len(acks))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with batched_dir_sync():
        result = receive(client, names, work)
    assert [i["outcome"] for i in result.report.items] == ["ok"], result.report.items
    assert synced and synced[0] == 0  # synced before any done reached the hub
    assert acks == [(names[0], "done", True)]
