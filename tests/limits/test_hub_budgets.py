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
