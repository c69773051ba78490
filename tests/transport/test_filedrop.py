"""File drop: atomic claims, done/failed with reports, atomic outgoing files; with a real adapter."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from gateway.adapters import AdapterRegistry
from gateway.edxml import parse_package
from gateway.errors import ConfigurationError, TransportError, UpstreamUnavailableError
from gateway.transport.filedrop import FileDrop, ItemOutcome

FLAT = Path(__file__).resolve().parents[2] / "adapters" / "flat_xml_export"


def test_claim_moves_items_and_skips_temporary_names(tmp_path: Path) -> None:
    drop = FileDrop(tmp_path)
    (drop.inbox / "a.xml").write_bytes(b"<a/>")
    (drop.inbox / ".b.xml").write_bytes(b"<b/>")  # still being written by the legacy side
    (drop.inbox / "c.xml.part").write_bytes(b"<c/>")
    (drop.inbox / "notes.txt").write_text("ignored")
    claimed = drop.claim()
    assert [p.name for p in claimed] == ["a.xml"]
    assert (drop.processing / "a.xml").exists() and not (drop.inbox / "a.xml").exists()
    assert drop.claim() == []


def test_two_workers_never_take_the_same_item(tmp_path: Path) -> None:
    drop_a, drop_b = FileDrop(tmp_path), FileDrop(tmp_path)
    for i in range(40):
        (drop_a.inbox / f"{i:02d}.xml").write_bytes(b"<a/>")
    got: list[list[Path]] = [[], []]
    threads = [
        threading.Thread(target=lambda k=k, d=d: got[k].extend(d.claim())) for k, d in enumerate((drop_a, drop_b))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = [p.name for p in got[0] + got[1]]
    assert sorted(names) == [f"{i:02d}.xml" for i in range(40)]


def test_process_sorts_into_done_and_failed_and_never_stops(tmp_path: Path) -> None:
    drop = FileDrop(tmp_path)
    for name in ("ok.xml", "bad.xml", "boom.xml", "down.xml"):
        (drop.inbox / name).write_bytes(b"<x/>")

    def handler(item: Path) -> ItemOutcome:
        if item.name == "boom.xml":
            raise RuntimeError("secret internals")
        if item.name == "down.xml":
            raise UpstreamUnavailableError("ledger unavailable")
        return ItemOutcome(item.name == "ok.xml", {"documents": 1})

    results = drop.process(handler)
    assert len(results) == 4
    assert [p.name for p in drop.done.iterdir() if p.suffix == ".xml"] == ["ok.xml"]
    assert sorted(p.name for p in drop.failed.iterdir() if p.suffix == ".xml") == ["bad.xml", "boom.xml", "down.xml"]
    boom = json.loads((drop.failed / "boom.xml.report.json").read_text())
    assert boom == {"error": "internal error: RuntimeError"}  # no internals leak into the report
    down = json.loads((drop.failed / "down.xml.report.json").read_text())
    assert down["retryable"] is True


def test_finished_names_never_overwrite(tmp_path: Path) -> None:
    drop = FileDrop(tmp_path)
    for _ in range(2):
        (drop.inbox / "same.xml").write_bytes(b"<x/>")
        drop.process(lambda p: ItemOutcome(True))
    assert len(list(drop.done.iterdir())) == 2


def test_write_outgoing_leaves_no_temporary_and_refuses_overwrite(tmp_path: Path) -> None:
    drop = FileDrop(tmp_path)
    target = drop.write_outgoing("nhap.xml", b"<NhapVanBan/>")
    assert target.read_bytes() == b"<NhapVanBan/>"
    assert [p.name for p in drop.outbox.iterdir()] == ["nhap.xml"]  # no temporary left behind
    with pytest.raises(TransportError, match=r"refusing to overwrite"):
        drop.write_outgoing("nhap.xml", b"<x/>")
    with pytest.raises(ConfigurationError):
        drop.write_outgoing("../escape.xml", b"<x/>")
    with pytest.raises(ConfigurationError, match=r"leave the bundle"):
        drop.write_outgoing("b.xml", b"<x/>", {"../../x.pdf": b"%PDF"})
    assert not [p for p in drop.outbox.iterdir() if p.name.startswith(".")]


def test_a_reader_polling_the_outbox_never_sees_a_partial_file(tmp_path: Path) -> None:
    """Atomicity, observed: a legacy system polling the outbox sees nothing or a whole file/bundle."""
    drop = FileDrop(tmp_path)
    sizes: dict[str, int] = {}
    seen: list[str] = []
    partial: list[str] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            for entry in list(drop.outbox.iterdir()):
                if entry.name.startswith("."):
                    continue  # a temporary: hidden, never picked up
                files = [entry] if entry.is_file() else sorted(p for p in entry.rglob("*") if p.is_file())
                for f in files:
                    try:
                        size = f.stat().st_size
                    except FileNotFoundError:
                        continue
                    key = str(f.relative_to(drop.outbox))
                    seen.append(key)
                    if key not in sizes or size != sizes[key]:
                        partial.append(f"{key}: {size} bytes")

    thread = threading.Thread(target=reader)
    big = b"<x>" + b"a" * (3 << 20) + b"</x>"
    for i in range(6):  # sizes are registered before the write starts, as a reader would know them
        sizes[f"f{i}.xml"] = len(big)
        sizes[f"b{i}/b{i}.xml"] = len(big)
        sizes[f"b{i}/att/{i}.pdf"] = len(big)
    thread.start()
    try:
        for i in range(6):
            drop.write_outgoing(f"f{i}.xml", big)
            drop.write_outgoing(f"b{i}.xml", big, {f"att/{i}.pdf": big})
    finally:
        done.set()
        thread.join()
    assert partial == []
    assert seen  # the reader did look while files were being written


def test_a_failed_write_leaves_nothing_visible_in_the_outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drop = FileDrop(tmp_path)

    def eio(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", eio)
    with pytest.raises((OSError, TransportError)):
        drop.write_outgoing("nhap.xml", b"<NhapVanBan/>")
    with pytest.raises((OSError, TransportError)):
        drop.write_outgoing("goi.xml", b"<NhapVanBan/>", {"a.pdf": b"%PDF"})
    assert [p.name for p in drop.outbox.iterdir() if not p.name.startswith(".")] == []


def test_watch_stops_on_event(tmp_path: Path) -> None:
    drop = FileDrop(tmp_path)
    (drop.inbox / "a.xml").write_bytes(b"<a/>")
    stop = threading.Event()
    seen: list[str] = []

    def handler(item: Path) -> ItemOutcome:
        seen.append(item.name)
        stop.set()
        return ItemOutcome(True)

    thread = threading.Thread(target=drop.watch, args=(handler,), kwargs={"interval": 0.01, "stop": stop})
    thread.start()
    thread.join(timeout=5)
    assert not thread.is_alive() and seen == ["a.xml"]


def test_nightly_export_bundle_through_the_flat_adapter(tmp_path: Path) -> None:
    """A bundle folder (export + referenced files) is translated; an import file goes back out."""
    adapter = AdapterRegistry(use_entry_points=False).get("flat_xml_export")
    drop = FileDrop(tmp_path / "drop")
    bundle = tmp_path / "export-2024-05-06"
    (bundle / "files").mkdir(parents=True)
    shutil.copy(FLAT / "fixtures" / "cong_van_1258.in.xml", bundle / "export.xml")
    for f in (FLAT / "fixtures" / "files").iterdir():
        shutil.copy(f, bundle / "files" / f.name)
    bundle.rename(drop.inbox / bundle.name)  # appears atomically
    packages = []

    def handler(item: Path) -> ItemOutcome:
        report = adapter.translate_files(drop.documents(item))
        packages.extend(r.package for r in report.ok)
        return ItemOutcome(not report.failed, report.as_dict())

    ((where, outcome),) = drop.process(handler)
    assert outcome.ok and where.parent == drop.done and len(packages) == 1
    incoming = parse_package((FLAT / "fixtures" / "nhap_van_ban.in.edxml").read_bytes()).package
    out = adapter.to_legacy(incoming)
    written = drop.write_outgoing("nhap-2440.xml", out.data, out.files)
    assert (written / "nhap-2440.xml").read_bytes() == out.data
    assert {p.name for p in written.iterdir()} == {"nhap-2440.xml", *out.files}
