"""The most common vendor shape: a namespaced batch root declared globally, the document element
local inside it, attributes, nested blocks, ids already in QCVN form and inline base64 PDFs.

Regression tests for the integrator's friction: a local document element named by a path
(``GoiVanBan/VanBan``) everywhere an element is named, the batch root never scaffolded as one
document, and a reverse wrapper that carries its required attributes from templates.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from gateway.adapters.adapter import Adapter
from gateway.adapters.manifest import load_manifest
from gateway.adapters.scaffold import scaffold
from gateway.errors import ConfigurationError, MappingError

NS = "urn:vendor:qlvb:2019"
XSD = f"""<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:v="{NS}" targetNamespace="{NS}"
           elementFormDefault="qualified">
  <xs:element name="GoiVanBan">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="VanBan" maxOccurs="unbounded">
          <xs:complexType>
            <xs:sequence>
              <xs:element name="SoKyHieu">
                <xs:complexType><xs:simpleContent><xs:extension base="xs:string">
                  <xs:attribute name="so" type="xs:string" use="required"/>
                </xs:extension></xs:simpleContent></xs:complexType>
              </xs:element>
              <xs:element name="NgayBanHanh" type="xs:date"/>
              <xs:element name="LoaiVanBan" type="xs:string"/>
              <xs:element name="TrichYeu" type="xs:string"/>
              <xs:element name="NguoiKy" type="xs:string"/>
              <xs:element name="CoQuanGui" type="xs:string"/>
              <xs:element name="NoiNhan">
                <xs:complexType><xs:sequence>
                  <xs:element name="CoQuan" type="xs:string" maxOccurs="unbounded"/>
                </xs:sequence></xs:complexType>
              </xs:element>
              <xs:element name="TepDinhKem" minOccurs="0" maxOccurs="unbounded">
                <xs:complexType><xs:simpleContent><xs:extension base="xs:base64Binary">
                  <xs:attribute name="ten" type="xs:string" use="required"/>
                </xs:extension></xs:simpleContent></xs:complexType>
              </xs:element>
            </xs:sequence>
            <xs:attribute name="ma" type="xs:string" use="required"/>
          </xs:complexType>
        </xs:element>
      </xs:sequence>
      <xs:attribute name="ngayXuat" type="xs:date" use="required"/>
    </xs:complexType>
  </xs:element>
</xs:schema>
"""

MAPPING = f"""
[namespaces]
v = "{NS}"

[edoc]
element = "v:GoiVanBan/v:VanBan"
id = "@ma"
{{wrapper}}

[edoc.fields]
"from.organ_id" = "v:CoQuanGui"
"code" = {{ path = "v:SoKyHieu", convert = "code" }}
"promulgation.date" = "v:NgayBanHanh"
"document_type.type_name" = "v:LoaiVanBan"
"subject" = "v:TrichYeu"
"signer.full_name" = "v:NguoiKy"

[edoc.legacy]
"@ma" = "{{code.number}}"
"v:SoKyHieu/@so" = "{{code.number}}"

[edoc.groups.to]
path = "v:NoiNhan/v:CoQuan"
[edoc.groups.to.fields]
organ_id = "."

[edoc.groups.attachments]
path = "v:TepDinhKem"
[edoc.groups.attachments.fields]
name = "@ten"
data = {{ path = ".", convert = "base64" }}
"""

PDF = base64.b64encode(b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n").decode()
BATCH = f"""<?xml version="1.0" encoding="UTF-8"?>
<v:GoiVanBan xmlns:v="{NS}" ngayXuat="2026-11-30">
  <v:VanBan ma="A1">
    <v:SoKyHieu so="12">12/UBND-VX</v:SoKyHieu>
    <v:NgayBanHanh>2026-11-28</v:NgayBanHanh>
    <v:LoaiVanBan>Công văn</v:LoaiVanBan>
    <v:TrichYeu>Về việc A</v:TrichYeu>
    <v:NguoiKy>Nguyễn Văn An</v:NguoiKy>
    <v:CoQuanGui>000.00.00.H41</v:CoQuanGui>
    <v:NoiNhan><v:CoQuan>000.00.00.G22</v:CoQuan><v:CoQuan>000.00.00.G12</v:CoQuan></v:NoiNhan>
    <v:TepDinhKem ten="12-UBND.pdf">{PDF}</v:TepDinhKem>
  </v:VanBan>
  <v:VanBan ma="A2">
    <v:SoKyHieu so="13">13/UBND-VX</v:SoKyHieu>
    <v:NgayBanHanh>2026-11-29</v:NgayBanHanh>
    <v:LoaiVanBan>Công văn</v:LoaiVanBan>
    <v:TrichYeu>Về việc B</v:TrichYeu>
    <v:NguoiKy>Nguyễn Văn An</v:NguoiKy>
    <v:CoQuanGui>000.00.00.H41</v:CoQuanGui>
    <v:NoiNhan><v:CoQuan>000.00.00.G22</v:CoQuan></v:NoiNhan>
  </v:VanBan>
</v:GoiVanBan>
"""

WRAPPER = """[edoc.wrapper]
element = "v:GoiVanBan"
attributes = { ngayXuat = "{today:yyyy-MM-dd}" }"""


def _adapter(tmp_path: Path, *, wrapper: str = WRAPPER) -> Adapter:
    folder = tmp_path / "vendor"
    (folder / "xsd").mkdir(parents=True)
    (folder / "xsd" / "goi.xsd").write_text(XSD, encoding="utf-8")
    (folder / "mapping.toml").write_text(MAPPING.replace("{wrapper}", wrapper), encoding="utf-8")
    (folder / "adapter.toml").write_text(
        'code = "vendor"\nversion = 1\nschema = "xsd/goi.xsd"\nmapping = "mapping.toml"\n', encoding="utf-8"
    )
    return Adapter(load_manifest(folder))


def test_local_document_element_by_path_translates_a_batch(tmp_path: Path) -> None:
    adapter = _adapter(tmp_path)
    results = adapter.translate_bytes(BATCH.encode(), source="goi.xml")
    assert [r.ok for r in results] == [True, True], [str(e) for r in results for e in r.errors]
    assert [r.legacy_id for r in results] == ["A1", "A2"]
    first = results[0].package
    assert [t.organ_id for t in first.header.to] == ["000.00.00.G22", "000.00.00.G12"]
    assert first.attachments[0].name == "12-UBND.pdf"


def test_reverse_writes_the_wrapper_with_its_required_attribute(tmp_path: Path) -> None:
    adapter = _adapter(tmp_path)
    package = adapter.translate_bytes(BATCH.encode(), source="goi.xml")[0].package
    out = adapter.to_legacy(package).data.decode("utf-8")
    assert re.search(r'<v:GoiVanBan [^>]*ngayXuat="\d{4}-\d{2}-\d{2}"', out), out[:300]
    assert '<v:VanBan ma="12">' in out
    again = adapter.translate_bytes(out.encode(), source="back.xml")
    assert again[0].ok and again[0].package.header.subject == "Về việc A"


def test_reverse_without_the_required_attribute_names_the_element(tmp_path: Path) -> None:
    adapter = _adapter(tmp_path, wrapper="")  # the default wrapper: the parents of the element path
    package = adapter.translate_bytes(BATCH.encode(), source="goi.xml")[0].package
    with pytest.raises(MappingError) as err:
        adapter.to_legacy(package)
    assert "ngayXuat" in str(err.value) and "GoiVanBan" in str(err.value)


def test_unknown_local_element_lists_the_children(tmp_path: Path) -> None:
    folder = tmp_path / "vendor"
    _adapter(tmp_path)
    text = (folder / "mapping.toml").read_text(encoding="utf-8").replace("v:GoiVanBan/v:VanBan", "v:GoiVanBan/v:Tep")
    (folder / "mapping.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"GoiVanBan has no child element 'v:Tep'; its children: VanBan"):
        Adapter(load_manifest(folder))


def test_scaffold_descends_from_the_batch_root_and_accepts_a_path(tmp_path: Path) -> None:
    xsd = tmp_path / "src" / "goi.xsd"
    xsd.parent.mkdir()
    xsd.write_text(XSD, encoding="utf-8")
    auto = scaffold("auto_vendor", xsd, tmp_path / "out")
    assert 'element = "GoiVanBan/VanBan"' in (auto / "mapping.toml").read_text(encoding="utf-8")
    assert "#   SoKyHieu/@so" in (auto / "mapping.toml").read_text(encoding="utf-8")
    named = scaffold("named_vendor", xsd, tmp_path / "out", element="GoiVanBan/VanBan")
    assert "<VanBan" in (named / "fixtures" / "example.in.xml").read_text(encoding="utf-8")
    with pytest.raises(ConfigurationError, match="has no child element"):
        scaffold("bad_vendor", xsd, tmp_path / "out", element="GoiVanBan/Khong")


def test_check_dry_runs_the_reverse_direction_and_names_the_missing_attribute(tmp_path: Path) -> None:
    from gateway.adapters.dry_run import dry_run

    findings = dry_run(_adapter(tmp_path, wrapper=""))
    errors = [f for f in findings if f.level == "error"]
    assert len(errors) == 1 and errors[0].kind == "reverse"
    assert "/v:GoiVanBan: missing required attribute 'ngayXuat'" in errors[0].message
    assert not [f for f in dry_run(_adapter(tmp_path / "ok")) if f.level == "error"]


def test_check_warns_about_values_that_cannot_go_back_and_dates_that_lose_time(tmp_path: Path) -> None:
    from gateway.adapters.dry_run import dry_run

    adapter = _adapter(tmp_path)
    folder = adapter.manifest.folder
    text = (folder / "mapping.toml").read_text(encoding="utf-8")
    text = text.replace('[edoc]', '[tables.do_khan]\nThuong = 0\nKhan = 1\nThuongKhan = 2\nHoaToc = 3\n\n[edoc]', 1)
    text = text.replace('"subject" = "v:TrichYeu"', '"subject" = "v:TrichYeu"\n"other.priority" = { path = "@doKhan", table = "do_khan", default = "Thuong" }')
    text = text.replace('"promulgation.date" = "v:NgayBanHanh"',
                        '"promulgation.date" = { path = "v:NgayBanHanh", format = "yyyy-MM-dd HH:mm:ss" }')
    (folder / "mapping.toml").write_text(text, encoding="utf-8")
    xsd = (folder / "xsd" / "goi.xsd").read_text(encoding="utf-8")
    xsd = xsd.replace('<xs:attribute name="ma" type="xs:string" use="required"/>',
                      '<xs:attribute name="ma" type="xs:string" use="required"/><xs:attribute name="doKhan" type="xs:string"/>')
    xsd = xsd.replace('name="NgayBanHanh" type="xs:date"', 'name="NgayBanHanh" type="xs:string"')
    (folder / "xsd" / "goi.xsd").write_text(xsd, encoding="utf-8")
    findings = [str(f) for f in dry_run(Adapter(load_manifest(folder)))]
    assert any("other.priority" in f and "4 (hỏa tốc hẹn giờ)" in f for f in findings), findings
    assert any("promulgation.date" in f and "time is dropped" in f for f in findings), findings
