"""Drafting a mapping from the XSD and a real sample (``lienthong adapters new --sample``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gateway.adapters.adapter import Adapter
from gateway.adapters.draft import fold
from gateway.adapters.draft_sample import draft_for_adapter
from gateway.adapters.manifest import load_manifest
from gateway.adapters.scaffold import last_draft, scaffold
from gateway.cli import main

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))

from test_vendor_shape import BATCH, XSD  # noqa: E402


def test_fold_removes_diacritics_and_punctuation() -> None:
    assert fold("Trích yếu") == "trichyeu"
    assert fold("Số_Ký-Hiệu") == "sokyhieu"
    assert fold("Đơn vị gửi") == "donvigui"


@pytest.mark.parametrize("code", ["qlvb_soap", "flat_xml_export", "edxml_2011"])
def test_bundled_adapters_are_mostly_drafted_right(code: str) -> None:
    """The mappings we wrote by hand are the answer key; the draft must find most of them."""
    score, _sample = draft_for_adapter(ROOT / "adapters" / code)
    assert score.total >= 15
    assert score.share >= 0.85, score.as_dict()


def test_an_unseen_vendor_shape_is_drafted_and_translates_after_review(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "goi.xsd").write_text(XSD, encoding="utf-8")
    (src / "goi.xml").write_text(BATCH, encoding="utf-8")
    folder = scaffold("vendor_draft", src / "goi.xsd", tmp_path / "adapters", sample=src / "goi.xml")
    draft = last_draft(folder)
    got = {p.target: p.path for p in draft.fields}
    assert got["code"] == "v:SoKyHieu" and got["subject"] == "v:TrichYeu"
    assert got["promulgation.date"] == "v:NgayBanHanh" and got["signer.full_name"] == "v:NguoiKy"
    assert got["from.organ_id"] == "v:CoQuanGui"  # a QCVN id by its value shape
    to_head, to_fields = draft.groups["to"]
    assert to_head.path == "v:NoiNhan/v:CoQuan" and {p.target: p.path for p in to_fields}["organ_id"] == "."
    files_head, files_fields = draft.groups["attachments"]
    assert files_head.path == "v:TepDinhKem"
    assert {p.target: (p.path, dict(p.options)) for p in files_fields}["data"] == (".", {"convert": "base64"})
    assert (folder / "fixtures" / "goi.in.xml").exists()
    # The drafted mapping loads as it is (every required field was proposed) and translates the sample.
    adapter = Adapter(load_manifest(folder))
    results = adapter.translate_bytes(BATCH.encode(), source="goi.xml")
    assert [r.ok for r in results] == [True, True], [str(e) for r in results for e in r.errors]


def test_cli_prints_the_proposals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    xsd = ROOT / "adapters" / "qlvb_soap" / "xsd" / "qlvb.xsd"
    sample = ROOT / "adapters" / "qlvb_soap" / "fixtures" / "cong_van.in.xml"
    assert main(["adapters", "new", "nhap", "--xsd", str(xsd), "--sample", str(sample), "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "drafted" in out and "SoKyHieu" in out and "TrichYeu" in out
    mapping = (tmp_path / "nhap" / "mapping.toml").read_text(encoding="utf-8")
    assert '# proposed (0.' in mapping and '"subject" = "TrichYeu"' in mapping
