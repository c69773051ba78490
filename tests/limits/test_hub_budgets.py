"""The hub's intake under hostile attachments: typed 4xx axis FAIL answers, nothing left on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hubkit import running_hubs, sdk_send
from limitkit import package_with, zeros_zip
from test_input_budgets import _malformed

from gateway.config import HubSettings
from gateway.transport.filedrop import FileDrop, ItemOutcome

pytestmark = pytest.mark.db

H41 = "000.00.00.H41"


def _folder_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


@pytest.fixture
def hub(hub_settings: HubSettings):
    with running_hubs(hub_settings.with_(max_request_bytes=64 * 1024 * 1024)) as (h,):
        h.ledger.add_system("sys-h41", "secret-41", [H41])
        h.ledger.add_system("sys-g22", "secret-22", ["000.00.00.G22", "000.00.00.G12"])
        yield h


def test_zip_bombs_and_malformed_zips_get_422_fail_and_leave_no_blob(hub) -> None:
    blobs = hub.settings.blob_dir
    before = _folder_bytes(blobs)
    bodies = {"small bomb": package_with(zeros_zip(300 * 1024 * 1024))}
    # over the in-memory threshold (8 MB): the path that used to write every inflated attachment as a blob
    bodies["large bomb"] = package_with(zeros_zip(300 * 1024 * 1024), extra=(os.urandom(7 * 1024 * 1024),))
    bodies.update(_malformed())
    for name, body in bodies.items():
        if not body.startswith(b"<"):
            body = package_with(body)
        r = sdk_send(hub.url, "sys-h41", "secret-41", body)
        assert r.status_code == 422, (name, r.status_code, r.text[:300])
        answer = r.json()
        assert answer["status"] == "FAIL" and "attachment 1" in answer["ErrorDesc"], (name, answer)
    assert _folder_bytes(blobs) == before  # nothing written for a refused request
    ok = sdk_send(hub.url, "sys-h41", "secret-41", package_with(b"%PDF-1.4 ok"))
    assert ok.status_code == 200 and ok.json()["status"] == "OK", ok.text


def test_refused_sender_leaves_no_blob_for_a_large_package(hub) -> None:
    """A large (streamed-parse) package from a system not registered for its From: 403, no blob."""
    body = package_with(os.urandom(9 * 1024 * 1024))
    hub.ledger.add_system("sys-other", "secret-o", ["000.00.00.X99"])
    before = _folder_bytes(hub.settings.blob_dir)
    r = sdk_send(hub.url, "sys-other", "secret-o", body)
    assert r.status_code == 403 and r.json()["status"] == "FAIL"
    assert _folder_bytes(hub.settings.blob_dir) == before


def test_file_drop_never_follows_symlinks_or_special_files(tmp_path: Path) -> None:
    drop = FileDrop(tmp_path / "drop")
    secret = tmp_path / "outside.xml"
    secret.write_text("<secret>host file</secret>")
    (drop.inbox / "link.xml").symlink_to(secret)
    (drop.inbox / "zero.xml").symlink_to("/dev/zero")
    (drop.inbox / "dirlink").symlink_to(tmp_path)
    os.mkfifo(drop.inbox / "fifo.xml")
    (drop.inbox / "real.xml").write_text("<ok/>")
    seen: list[str] = []

    def handler(item: Path) -> ItemOutcome:
        seen.append(item.name)
        return ItemOutcome(True, {})

    drop.process(handler)
    assert seen == ["real.xml"]
    failed = sorted(p.name for p in drop.failed.iterdir() if not p.name.endswith(".report.json"))
    assert failed == ["dirlink", "fifo.xml", "link.xml", "zero.xml"]
    report = (drop.failed / "link.xml.report.json").read_text()
    assert "symbolic link" in report and "host file" not in report
    assert secret.read_text() == "<secret>host file</secret>"  # moved the link, not the target


def test_blobs_check_reports_and_prunes_orphans_with_an_audit_entry(hub_settings: HubSettings) -> None:
    import json as _json
    import subprocess
    import sys

    from gateway.blobstore import BlobStore
    from gateway.ledger import Ledger, verify_chain
    from gateway.ledger.db import make_engine, upgrade

    engine = make_engine(hub_settings.database_url)
    upgrade(engine)
    engine.dispose()
    ledger = Ledger.open(hub_settings)
    store = BlobStore(hub_settings.blob_dir, fsync=False)
    kept = store.put_bytes(b"referenced package")
    with ledger.transaction() as s:
        ledger.find_or_create_submission(s, message_type="edoc", document_id="d1", sender=H41,
                                         payload_sha256=kept.sha256, payload_size=kept.size, system_id="sys")
    old = store.put_bytes(b"orphan from a crash")
    fresh = store.put_bytes(b"orphan still in flight")
    os.utime(old.path, (0, 1_000_000))  # written long ago
    ledger.close()
    exe = str(Path(sys.executable).with_name("lienthong"))
    env = {**os.environ, "LIENTHONG_DATA_DIR": str(hub_settings.data_dir),
           "LIENTHONG_DATABASE_URL": hub_settings.database_url}
    check = subprocess.run([exe, "blobs", "check", "--json"], capture_output=True, text=True, env=env)
    assert check.returncode == 1, check.stderr
    assert {o["sha256"] for o in _json.loads(check.stdout)["orphans"]} == {old.sha256, fresh.sha256}
    prune = subprocess.run([exe, "blobs", "check", "--prune", "--json"], capture_output=True, text=True, env=env)
    result = _json.loads(prune.stdout)
    assert [o["sha256"] for o in result["removed"]] == [old.sha256]
    assert [o["sha256"] for o in result["orphans"]] == [fresh.sha256]  # inside the grace period
    assert not old.path.exists() and fresh.path.exists() and kept.path.exists()
    ledger = Ledger.open(hub_settings)
    try:
        from sqlalchemy import select

        from gateway.ledger.models import AuditEntry

        with ledger.reader() as s:
            events = [e.event for e in s.execute(select(AuditEntry)).scalars()]
            assert "blobs.prune" in events
            assert verify_chain(s).ok
    finally:
        ledger.close()
