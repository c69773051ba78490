"""Entry-point adapters load through the same path as folders; directory-backed organ lookups."""

from __future__ import annotations

import shutil
import sys
import types
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from gateway.adapters import Adapter, AdapterRegistry, discover, load_manifest
from gateway.adapters import discovery as discovery_module
from gateway.adapters.organs import DirectoryOrganLookup
from gateway.edxml.directory import Directory
from gateway.edxml.model import EdocPackage
from gateway.errors import ConfigurationError

ADAPTERS = Path(__file__).resolve().parents[2] / "adapters"


def test_entry_point_adapter_is_found_and_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "pkg" / "qlvb_v2"
    shutil.copytree(ADAPTERS / "qlvb_soap", folder)
    text = (folder / "adapter.toml").read_text(encoding="utf-8").replace('code = "qlvb_soap"', 'code = "qlvb_v2"')
    (folder / "adapter.toml").write_text(text, encoding="utf-8")
    module = types.ModuleType("lienthong_test_plugin")
    module.ADAPTER_DIR = folder  # type: ignore[attr-defined]
    module.broken = lambda: 1 / 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lienthong_test_plugin", module)
    eps = [
        EntryPoint("qlvb_v2", "lienthong_test_plugin:ADAPTER_DIR", "lienthong.adapters"),
        EntryPoint("bad", "lienthong_test_plugin:broken", "lienthong.adapters"),
    ]
    monkeypatch.setattr(discovery_module, "entry_points", lambda group: eps if group == "lienthong.adapters" else [])
    found = {f.code: f for f in discover([ADAPTERS])}
    assert found["qlvb_v2"].origin.startswith("entry point qlvb_v2") and found["qlvb_v2"].problem is None
    assert any(f.problem and "ZeroDivisionError" in f.problem for f in found.values())
    registry = AdapterRegistry([ADAPTERS])
    assert {"qlvb_soap", "qlvb_v2"} <= set(registry.codes())
    (result,) = registry.get("qlvb_v2").translate_bytes((folder / "fixtures" / "cong_van.in.xml").read_bytes())
    assert result.ok


def test_duplicate_code_is_reported(tmp_path: Path) -> None:
    shutil.copytree(ADAPTERS / "qlvb_soap", tmp_path / "a")
    shutil.copytree(ADAPTERS / "qlvb_soap", tmp_path / "b")
    found = discover([tmp_path], use_entry_points=False)
    assert sum(1 for f in found if f.problem and "already provided" in f.problem) == 1


def test_unknown_adapter_code() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown adapter 'nope'"):
        AdapterRegistry([ADAPTERS], use_entry_points=False).get("nope")


def test_directory_lookup_by_code_old_code_and_unique_name(tmp_path: Path) -> None:
    directory = Directory.from_records(
        [
            {"code": "H41", "name": "Ủy ban nhân dân tỉnh Nghệ An", "oldCode": "000.00.00.H41"},
            {"code": "H41.10", "name": "Sở Nội vụ tỉnh Nghệ An", "oldCode": "000.00.10.H41"},
            {"code": "H41.12", "name": "Sở Tài chính tỉnh Nghệ An", "oldCode": "000.00.12.H41"},
            {"code": "H44.12", "name": "Sở Tài chính", "oldCode": "000.00.12.H44"},
            {"code": "H26.12", "name": "Sở Tài chính", "oldCode": "000.00.12.H26"},
        ]
    )
    lookup = DirectoryOrganLookup(directory, prefer_old_codes=True)
    assert lookup.lookup("000.00.10.H41") == "000.00.10.H41"
    assert lookup.lookup("H41.12") == "000.00.12.H41"
    assert lookup.lookup("so tai chinh tinh nghe an") == "000.00.12.H41"  # accents/case ignored
    assert lookup.lookup("Sở Tài chính") is None  # two bodies bear this name: never guess
    assert DirectoryOrganLookup(directory).lookup("000.00.00.H41") == "H41"


def test_adapter_falls_back_to_the_directory(tmp_path: Path) -> None:
    folder = tmp_path / "qlvb_soap"
    shutil.copytree(ADAPTERS / "qlvb_soap", folder)
    directory = Directory.from_records([{"code": "H41.15", "name": "Sở Y tế tỉnh Nghệ An", "oldCode": "000.00.15.H41"}])
    adapter = Adapter(load_manifest(folder), organs=DirectoryOrganLookup(directory, prefer_old_codes=True))
    doc = (folder / "fixtures" / "cong_van.in.xml").read_bytes()
    doc = doc.replace(b"<MaCoQuan>STC-NA</MaCoQuan>", "<MaCoQuan>Sở Y tế tỉnh Nghệ An</MaCoQuan>".encode())
    (result,) = adapter.translate_bytes(doc)
    assert isinstance(result.package, EdocPackage)
    assert result.package.header.to[1].organ_id == "000.00.15.H41"
