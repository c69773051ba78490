"""Manifest and mapping checks, batch behaviour, error reports, hooks, organ lookups."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree

from gateway.adapters import Adapter, DictOrganLookup, load_manifest
from gateway.adapters.discovery import discover
from gateway.edxml import parse_package, validate_bytes
from gateway.edxml.model import EdocPackage, Priority
from gateway.errors import ConfigurationError, MappingError

NS = "urn:qlvb:lienthong:v1"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _batch(*docs: bytes) -> bytes:
    inner = b"".join(re.sub(rb"<\?xml[^>]*\?>", b"", d).replace(f' xmlns="{NS}"'.encode(), b"") for d in docs)
    return f'<DanhSachVanBan xmlns="{NS}">'.encode() + inner + b"</DanhSachVanBan>"


def test_unknown_manifest_key_is_a_configuration_error(qlvb_copy: Path) -> None:
    _edit(qlvb_copy / "adapter.toml", 'encoding = "utf-8"', 'encoding = "utf-8"\nencodng = "x"')
    with pytest.raises(ConfigurationError, match=r"unknown key.*encodng"):
        load_manifest(qlvb_copy)


def test_path_leaving_the_folder_is_refused(qlvb_copy: Path) -> None:
    _edit(qlvb_copy / "adapter.toml", 'schema = "xsd/qlvb.xsd"', 'schema = "../../etc/passwd"')
    with pytest.raises(ConfigurationError, match=r"leaves the adapter folder"):
        load_manifest(qlvb_copy)


def test_unknown_mapping_key_and_target_are_reported(qlvb_copy: Path) -> None:
    _edit(qlvb_copy / "mapping.toml", '"subject" = "TrichYeu"', '"subject" = { path = "TrichYeu", fromat = "x" }')
    with pytest.raises(ConfigurationError, match=r"field 'subject'.*unknown key.*fromat"):
        Adapter.load(qlvb_copy)


def test_unknown_edxml_target_is_reported(qlvb_copy: Path) -> None:
    _edit(qlvb_copy / "mapping.toml", '"subject" = "TrichYeu"', '"subject" = "TrichYeu"\n"subjekt" = "TrichYeu"')
    with pytest.raises(ConfigurationError, match=r"subjekt.*unknown edXML field"):
        Adapter.load(qlvb_copy)


def test_legacy_path_missing_from_the_schema_is_reported(qlvb_copy: Path) -> None:
    _edit(qlvb_copy / "mapping.toml", '"subject" = "TrichYeu"', '"subject" = "TrichYeuu"')
    with pytest.raises(ConfigurationError, match=r"'TrichYeuu' is not in qlvb.xsd"):
        Adapter.load(qlvb_copy)


def test_required_edxml_field_must_be_mapped(qlvb_copy: Path) -> None:
    _edit(qlvb_copy / "mapping.toml", '"signer.full_name" = "NguoiKy"\n', "")
    with pytest.raises(ConfigurationError, match=r"signer.full_name"):
        Adapter.load(qlvb_copy)


def test_broken_folder_is_listed_with_its_problem_not_raised(qlvb_copy: Path) -> None:
    _edit(qlvb_copy / "adapter.toml", "version = 1", "version = 0")
    found = discover([qlvb_copy.parent], use_entry_points=False)
    assert len(found) == 1 and found[0].problem and "version" in found[0].problem


def test_batch_one_bad_document_does_not_stop_the_others(qlvb_copy: Path, cong_van: bytes) -> None:
    adapter = Adapter.load(qlvb_copy)
    bad = cong_van.replace(b"<MaVanBan>QLVB-2024-000123", b"<MaVanBan>QLVB-BAD").replace(
        b"<NgayBanHanh>2024-05-06</NgayBanHanh>", b"<NgayBanHanh>2024-13-45</NgayBanHanh>"
    )
    third = cong_van.replace(b"QLVB-2024-000123", b"QLVB-3").replace(b"1234/UBND-VX", b"99/UBND-VX")
    results = adapter.translate_bytes(_batch(cong_van, bad, third), source="batch.xml")
    assert [r.ok for r in results] == [True, False, True]
    (err,) = results[1].errors
    assert err.adapter == "qlvb_soap" and err.index == 2 and err.legacy_id == "QLVB-BAD"
    assert err.legacy_path == "/DanhSachVanBan/VanBan[2]/NgayBanHanh"
    assert err.line is not None and err.line > 1
    assert "expected xs:date" in err.message
    assert results[2].document_id == "000.00.00.H41,2024/05/06,99/UBND-VX"
    for r in (results[0], results[2]):
        assert r.edxml is not None
        validate_bytes(r.edxml)


def test_all_field_problems_of_a_document_are_collected(qlvb_copy: Path, cong_van: bytes) -> None:
    _edit(qlvb_copy / "mapping.toml", '"SNV-NA" = "000.00.10.H41"\n', "")
    adapter = Adapter.load(qlvb_copy)
    doc = cong_van.replace(b"<SoKyHieu>1234/UBND-VX</SoKyHieu>", b"<SoKyHieu>1234</SoKyHieu>")
    (result,) = adapter.translate_bytes(doc, source="x.xml")
    fields = sorted(e.field or "" for e in result.errors)
    assert fields == ["code", "to[1].organ_id"]
    assert any("CodeNumber" in e.message or "123/QĐ-UBND" in e.message for e in result.errors)


def test_not_xml_is_one_clear_error(qlvb_copy: Path) -> None:
    (result,) = Adapter.load(qlvb_copy).translate_bytes(b"<VanBan><oops></VanBan>", source="broken.xml")
    assert not result.ok and "malformed" in result.errors[0].message
    assert result.errors[0].line == 1


def test_doctype_is_refused(qlvb_copy: Path) -> None:
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><VanBan xmlns="urn:qlvb:lienthong:v1">&e;</VanBan>'
    (result,) = Adapter.load(qlvb_copy).translate_bytes(evil, source="evil.xml")
    assert not result.ok and "DTD" in result.errors[0].message


def test_wrong_root_names_what_was_expected(qlvb_copy: Path) -> None:
    (result,) = Adapter.load(qlvb_copy).translate_bytes(b"<Foo/>", source="foo.xml")
    assert "expected a VanBan, TrangThaiVanBan element, found <Foo>" in result.errors[0].message


def test_external_organ_lookup_is_consulted(qlvb_copy: Path, cong_van: bytes) -> None:
    adapter = Adapter(load_manifest(qlvb_copy), organs=DictOrganLookup({"SỞ Y TẾ NGHỆ AN": "000.00.15.H41"}))
    doc = cong_van.replace(b"<MaCoQuan>STC-NA</MaCoQuan>", "<MaCoQuan>Sở  Y tế Nghệ An</MaCoQuan>".encode())
    (result,) = adapter.translate_bytes(doc)
    assert result.ok, result.errors
    assert isinstance(result.package, EdocPackage)
    assert [o.organ_id for o in result.package.header.to] == ["000.00.10.H41", "000.00.15.H41"]


def test_hook_is_used_and_named_in_errors(qlvb_copy: Path, cong_van: bytes) -> None:
    (qlvb_copy / "hooks.py").write_text(
        "def trich_yeu(text, ctx):\n"
        "    if text.startswith('!'):\n"
        "        raise ValueError('bang mark')\n"
        "    return text.strip().upper()\n",
        encoding="utf-8",
    )
    _edit(qlvb_copy / "adapter.toml", 'fixtures = "fixtures"', 'fixtures = "fixtures"\nhooks = "hooks.py"')
    _edit(qlvb_copy / "mapping.toml", '"subject" = "TrichYeu"', '"subject" = { path = "TrichYeu", hook = "trich_yeu" }')
    adapter = Adapter.load(qlvb_copy)
    (ok,) = adapter.translate_bytes(cong_van)
    assert isinstance(ok.package, EdocPackage)
    assert ok.package.header.subject.startswith("VỀ VIỆC")
    (bad,) = adapter.translate_bytes(cong_van.replace(b"<TrichYeu>", b"<TrichYeu>!"))
    assert bad.errors[0].field == "subject" and "hook trich_yeu failed" in bad.errors[0].message


def test_reverse_output_is_valid_legacy_xml_and_round_trips(qlvb_copy: Path, cong_van: bytes) -> None:
    adapter = Adapter.load(qlvb_copy)
    (result,) = adapter.translate_bytes(cong_van)
    assert isinstance(result.package, EdocPackage)
    assert result.package.header.other_info.priority is Priority.URGENT
    out = adapter.to_legacy(result.package)
    root = etree.fromstring(out.data)
    schema = etree.XMLSchema(etree.parse(str(qlvb_copy / "xsd" / "qlvb.xsd")))
    assert schema.validate(root), schema.error_log
    (again,) = adapter.translate_bytes(out.data)
    assert again.package == result.package


def test_reverse_refuses_a_value_with_no_legacy_code(qlvb_copy: Path) -> None:
    adapter = Adapter.load(qlvb_copy)
    pkg = parse_package((qlvb_copy / "fixtures" / "nhan_van_ban.in.edxml").read_bytes()).package
    assert isinstance(pkg, EdocPackage)
    from dataclasses import replace

    odd = replace(
        pkg, header=replace(pkg.header, document_type=replace(pkg.header.document_type, type_name="Nghị quyết"))
    )
    with pytest.raises(MappingError, match=r"no entry in table loai_van_ban"):
        adapter.to_legacy(odd)


def test_wrapped_base64_is_accepted_and_junk_is_refused(qlvb_copy: Path, cong_van: bytes) -> None:
    import base64 as b64

    adapter = Adapter.load(qlvb_copy)
    data = b"%PDF-1.4 " + bytes(range(256)) * 4
    wrapped = b64.encodebytes(data)  # 76-character lines, as .NET and Java often write
    doc = re.sub(rb"<NoiDung>JVBER[^<]*</NoiDung>", b"<NoiDung>" + wrapped + b"</NoiDung>", cong_van)
    (ok,) = adapter.translate_bytes(doc)
    assert isinstance(ok.package, EdocPackage)
    with ok.package.attachments[0].payload.open() as fh:
        assert fh.read() == data


def test_value_containing_the_internal_separator_still_translates(qlvb_copy: Path, cong_van: bytes) -> None:
    # U+E000 separates fields in the compiled XPath; a value holding it takes the slow path.
    adapter = Adapter.load(qlvb_copy)
    doc = cong_van.replace("<TrichYeu>Về việc".encode(), "<TrichYeu>\ue000Về việc".encode())
    (result,) = adapter.translate_bytes(doc)
    assert isinstance(result.package, EdocPackage)
    assert result.package.header.subject.startswith("\ue000Về việc")
    assert result.package.header.code.number == "1234"


def test_output_refused_by_the_edxml_schema_is_a_document_error(qlvb_copy: Path, cong_van: bytes) -> None:
    # An [organs] entry mapping to a 40-character "id" passes the mapping but not OrganIdType (max 35).
    _edit(qlvb_copy / "mapping.toml", '"SNV-NA" = "000.00.10.H41"', '"SNV-NA" = "' + "X" * 40 + '"')
    (result,) = Adapter.load(qlvb_copy).translate_bytes(cong_van, source="long.xml")
    assert not result.ok and result.package is None
    assert result.errors[0].message.startswith("edXML output:")
    assert "OrganId" in " ".join(e.message + (e.legacy_path or "") for e in result.errors)
