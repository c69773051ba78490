"""The integrator's CLI, run in-process through ``gateway.cli.main``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gateway.cli import main

ADAPTERS = Path(__file__).resolve().parents[2] / "adapters"


def test_adapters_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["adapters", "list", "--json"]) == 0
    rows = {r["code"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"qlvb_soap", "flat_xml_export", "edxml_2011"} <= set(rows)
    assert rows["qlvb_soap"]["push"] is True and rows["flat_xml_export"]["encoding"] == "windows-1258"


def test_adapters_list_reports_a_broken_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(ADAPTERS / "qlvb_soap", tmp_path / "qlvb_soap")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "adapter.toml").write_text(
        'code = "broken"\nversion = 1\nschema = "nope.xsd"\nmapping = "m.toml"\n'
    )
    monkeypatch.setenv("LIENTHONG_ADAPTERS_DIR", str(tmp_path))
    assert main(["adapters", "list", "--json"]) == 1
    rows = {r["code"]: r for r in json.loads(capsys.readouterr().out)}
    assert "does not exist" in rows["broken"]["problem"] and rows["qlvb_soap"]["problem"] is None


def test_adapters_test_runs_the_contract_kit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["adapters", "test", "qlvb_soap"]) == 0
    out = capsys.readouterr().out
    assert "0 failed" in out and "[round-trip]" in out


def test_translate_batch_and_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    src.mkdir()
    good = (ADAPTERS / "qlvb_soap" / "fixtures" / "cong_van.in.xml").read_bytes()
    (src / "a.xml").write_bytes(good)
    (src / "b.xml").write_bytes(good.replace(b"<DoKhan>Khan</DoKhan>", b"<DoKhan>??</DoKhan>"))
    out = tmp_path / "out"
    assert main(["translate", "--adapter", "qlvb_soap", str(src), str(out), "--quiet"]) == 1
    report = json.loads((out / "report.json").read_text())
    assert (report["ok"], report["failed"]) == (1, 1)
    failed = next(d for d in report["documents"] if not d["ok"])
    assert "b.xml" in failed["source"] and "DoKhan" in failed["errors"][0]
    edxml = out / next(d for d in report["documents"] if d["ok"])["output"]
    back = tmp_path / "back"
    assert main(["translate", "--adapter", "qlvb_soap", "--to-legacy", str(edxml), str(back)]) == 0
    assert b"<SoKyHieu>1234/UBND-VX</SoKyHieu>" in (back / f"{edxml.stem}.xml").read_bytes()


def test_new_scaffold_lists_fields_and_fails_until_mapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    xsd = ADAPTERS / "flat_xml_export" / "xsd" / "xuat_van_ban.xsd"
    assert main(["adapters", "new", "so_van_thu", "--xsd", str(xsd), "--element", "Dong", "--dir", str(tmp_path)]) == 0
    mapping = (tmp_path / "so_van_thu" / "mapping.toml").read_text()
    assert "#   NguoiKy/@chucVu" in mapping and "#   @ngay" in mapping
    assert (tmp_path / "so_van_thu" / "fixtures" / "example.in.xml").exists()
    monkeypatch.setenv("LIENTHONG_ADAPTERS_DIR", str(tmp_path))
    capsys.readouterr()
    assert main(["adapters", "check"]) == 1
    assert "required edXML field(s) not mapped" in capsys.readouterr().out
    assert main(["adapters", "new", "so_van_thu", "--xsd", str(xsd), "--dir", str(tmp_path)]) == 2  # exists
