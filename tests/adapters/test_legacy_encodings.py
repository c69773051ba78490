"""The same export in every legacy encoding gives the same package, and goes back in kind."""

from __future__ import annotations

import re
import shutil
import unicodedata
from pathlib import Path

import pytest

from gateway.adapters import Adapter
from gateway.adapters.encodings import decode_tcvn3, encode_cp1258, encode_tcvn3
from gateway.edxml.model import EdocPackage

FLAT = Path(__file__).resolve().parents[2] / "adapters" / "flat_xml_export"


def _variant(tmp_path: Path, encoding: str) -> Path:
    folder = tmp_path / f"flat_{encoding.replace('-', '_')}"
    shutil.copytree(FLAT, folder)
    manifest = folder / "adapter.toml"
    text = manifest.read_text(encoding="utf-8").replace('encoding = "windows-1258"', f'encoding = "{encoding}"')
    manifest.write_text(text.replace('code = "flat_xml_export"', f'code = "flat_{encoding.replace("-", "_")}"'))
    return folder


def _export_text() -> str:
    raw = (FLAT / "fixtures" / "cong_van_1258.in.xml").read_bytes()
    text = unicodedata.normalize("NFC", raw.decode("cp1258"))
    return re.sub(r"<\?xml[^>]*\?>\s*", "", text)


@pytest.mark.parametrize(
    ("encoding", "declaration", "encode"),
    [
        ("utf-8", "UTF-8", lambda s: s.encode("utf-8")),
        ("utf-8-nfd", "UTF-8", lambda s: unicodedata.normalize("NFD", s).encode("utf-8")),
        ("windows-1258", "windows-1258", encode_cp1258),
        ("tcvn3", "ISO-8859-1", lambda s: encode_tcvn3(s, for_xml=True)),  # what old TCVN3 files claim
    ],
)
def test_same_package_from_every_encoding(tmp_path: Path, encoding: str, declaration: str, encode: object) -> None:
    reference = Adapter.load(FLAT)
    (expected,) = reference.translate_files([FLAT / "fixtures" / "cong_van_1258.in.xml"]).results
    assert isinstance(expected.package, EdocPackage)

    folder = _variant(tmp_path, encoding)
    adapter = Adapter.load(folder)
    data = f'<?xml version="1.0" encoding="{declaration}"?>\n'.encode() + encode(_export_text())  # type: ignore[operator]
    source = folder / "fixtures" / f"export.{encoding}.xml"
    source.write_bytes(data)
    (result,) = adapter.translate_files([source]).results
    assert result.ok, result.errors
    assert result.package == expected.package
    assert result.package.header.subject == "Về việc cử cán bộ tham gia tập huấn liên thông văn bản"

    out = adapter.to_legacy(expected.package)
    if encoding == "tcvn3":
        assert b'encoding="TCVN5712-1"' in out.data
        assert "Phan Thị Ngọc Ánh" not in out.data.decode("latin-1")  # really not Unicode
        assert "Phan Thị Ngọc Ánh" in decode_tcvn3(out.data)
    elif encoding == "utf-8-nfd":
        assert unicodedata.normalize("NFD", "Thị").encode() in out.data
    back = tmp_path / "back"
    for rel, content in out.files.items():
        (back / rel).parent.mkdir(parents=True, exist_ok=True)
        (back / rel).write_bytes(content)
    (again,) = adapter.translate_bytes(out.data, base_dir=back)
    assert again.ok, again.errors
    assert isinstance(again.package, EdocPackage)
    assert again.package.header.signer_info == expected.package.header.signer_info
    assert again.package.attachments == expected.package.attachments
