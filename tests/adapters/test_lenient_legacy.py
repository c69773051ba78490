"""Real legacy traffic is accepted the way the edXML reader accepts real axis traffic: lenient in, strict out.

The 2011 packages here have the shape the public C# client (QLVB.DTO.Vanbandientu.EdXML, .NET
XmlSerializer, properties in declaration order) writes: OrganizationInCharge after Telephone,
OtherInfo/Priority between SignerInfo and Content, no DocumentType block when the clerk left it
empty, and dates in dd/MM/yyyy or ISO form. Departures the mapping can read past are warnings
with line and path; only what the mapping cannot read is an error; strict mode refuses them all.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from pathlib import Path

import pytest

from gateway.adapters import AdapterRegistry
from gateway.adapters.adapter import Adapter
from gateway.edxml.model import EdocPackage

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = (ROOT / "adapters/edxml_2011/fixtures/bao_cao.in.mime").read_text(encoding="utf-8")

# The header as XmlSerializer writes edXMLMessageHeader: From, To, Code, PromulgationInfo,
# DocumentType, Subject, SignerInfo, OtherInfo, Content (and edXMLDonvi: ..., Telephone,
# OrganizationInCharge, Fax, Website).
SERIALIZER_HEADER = """    <edXML:MessageHeader>
      <edXML:From>
        <edXML:OrganId>000.00.00.H44</edXML:OrganId>
        <edXML:OrganName>UBND tỉnh Phú Thọ</edXML:OrganName>
        <edXML:OrganAdd>Số 1 Trần Phú, Việt Trì</edXML:OrganAdd>
        <edXML:Email>vanthu@phutho.gov.vn</edXML:Email>
        <edXML:Telephone>0210 3846 112</edXML:Telephone>
        <edXML:OrganizationInCharge>Ủy ban nhân dân tỉnh Phú Thọ</edXML:OrganizationInCharge>
      </edXML:From>
      <edXML:To>
        <edXML:OrganId>000.00.00.G22</edXML:OrganId>
        <edXML:OrganName>Văn phòng Chính phủ</edXML:OrganName>
        <edXML:OrganAdd />
        <edXML:Email />
        <edXML:Telephone />
      </edXML:To>
      <edXML:Code>
        <edXML:CodeNumber>318</edXML:CodeNumber>
        <edXML:CodeNotation>BC-UBND</edXML:CodeNotation>
      </edXML:Code>
      <edXML:PromulgationInfo>
        <edXML:PromulgationDate>{date}</edXML:PromulgationDate>
      </edXML:PromulgationInfo>
      <edXML:DocumentType>
        <edXML:Type>4</edXML:Type>
        <edXML:TypeName>Báo cáo</edXML:TypeName>
      </edXML:DocumentType>
      <edXML:Subject>Báo cáo tình hình ứng dụng công nghệ thông tin quý I năm 2013</edXML:Subject>
      <edXML:SignerInfo>
        <edXML:FullName>Hà Kế San</edXML:FullName>
      </edXML:SignerInfo>
      <edXML:OtherInfo>
        <edXML:Priority>2</edXML:Priority>
      </edXML:OtherInfo>
      <edXML:Content>Báo cáo quý I</edXML:Content>{extra}
    </edXML:MessageHeader>
"""


def _package(*, date_text: str = "12/03/2013", extra: str = "") -> bytes:
    start = FIXTURE.index("    <edXML:MessageHeader>")
    end = FIXTURE.index("    </edXML:MessageHeader>\n") + len("    </edXML:MessageHeader>\n")
    header = SERIALIZER_HEADER.replace("{date}", date_text).replace("{extra}", extra)
    return (FIXTURE[:start] + header + FIXTURE[end:]).encode("utf-8")


@pytest.fixture(scope="module")
def adapter() -> Adapter:
    return AdapterRegistry([ROOT / "adapters"], use_entry_points=False).get("edxml_2011")


def _one(adapter: Adapter, data: bytes):  # type: ignore[no-untyped-def]
    (result,) = adapter.translate_bytes(data, source="real.mime")
    return result


def test_serializer_shape_is_valid_and_keeps_every_field(adapter: Adapter) -> None:
    result = _one(adapter, _package())
    assert result.ok and result.verdict == "valid", [str(e) for e in result.errors]
    pkg = result.package
    assert isinstance(pkg, EdocPackage)
    assert pkg.header.from_.organization_in_charge == "Ủy ban nhân dân tỉnh Phú Thọ"
    assert pkg.header.other_info.priority == 2  # read from OtherInfo, not the old top-level Priority
    assert pkg.header.content == "Báo cáo quý I"
    assert pkg.header.promulgation_info.promulgation_date == date(2013, 3, 12)


def test_iso_date_is_read_with_a_warning_naming_line_and_path(adapter: Adapter) -> None:
    result = _one(adapter, _package(date_text="2013-03-12"))
    assert result.ok and result.verdict == "accepted with warnings"
    assert result.package.header.promulgation_info.promulgation_date == date(2013, 3, 12)
    (warning,) = result.warnings
    assert "alternative format yyyy-MM-dd" in warning.message
    assert warning.legacy_path and warning.legacy_path.endswith("PromulgationDate")
    assert warning.line is not None and warning.line > 20


def test_unknown_element_is_a_tolerated_departure(adapter: Adapter) -> None:
    result = _one(adapter, _package(extra="\n      <edXML:GhiChu>do văn thư nhập</edXML:GhiChu>"))
    assert result.ok and result.verdict == "accepted with warnings"
    assert len(result.warnings) == 1
    (warning,) = result.warnings
    assert warning.message.startswith("legacy schema (tolerated):")
    assert "GhiChu" in warning.message or "GhiChu" in (warning.legacy_path or "")
    assert warning.line is not None


def test_strict_manifest_refuses_the_same_departure(adapter: Adapter) -> None:
    strict = Adapter(dataclasses.replace(adapter.manifest, validation="strict"))
    result = _one(strict, _package(extra="\n      <edXML:GhiChu>x</edXML:GhiChu>"))
    assert not result.ok
    assert any("legacy schema" in e.message for e in result.errors)


def test_what_the_mapping_cannot_read_stays_an_error(adapter: Adapter) -> None:
    broken = _package().replace(b"<edXML:FullName>H\xc3\xa0 K\xe1\xba\xbf San</edXML:FullName>", b"")
    result = _one(adapter, broken)
    assert not result.ok
    messages = [e.message for e in result.errors]
    assert any("signer.full_name" in m for m in messages), messages


def test_impossible_date_is_an_error_not_a_warning(adapter: Adapter) -> None:
    result = _one(adapter, _package(date_text="31/02/2013"))
    assert not result.ok
    assert any("promulgation.date" in (e.field or "") for e in result.errors)


def test_report_carries_verdict_and_warnings(adapter: Adapter) -> None:
    report = adapter.translate_bytes(_package(date_text="2013/03/12"), source="x.mime")
    assert report[0].verdict == "accepted with warnings"
    doc = {"verdict": report[0].verdict, "warnings": [w.as_dict() for w in report[0].warnings]}
    assert doc["warnings"][0]["field"] == "promulgation.date"


def test_trace_time_from_an_iso_timestamp(adapter: Adapter) -> None:
    data = _package().replace(b"12/03/2013 16:20:05", b"2013-03-12T16:20:05")
    result = _one(adapter, data)
    assert result.ok
    assert result.package.trace.trace_headers[0].timestamp == datetime(2013, 3, 12, 16, 20, 5)
    assert any("yyyy-MM-ddTHH:mm:ss" in w.message for w in result.warnings)


# --- encoding = "declared" and file-level labels ---------------------------------------------------

from gateway.adapters.encodings import declared_encoding, encode_cp1258, to_utf8_xml  # noqa: E402

DOC = "<?xml version='1.0' encoding='{enc}'?>\n<VanBan><TrichYeu>Về việc tăng cường</TrichYeu></VanBan>"


@pytest.mark.parametrize("enc", ["UTF-8", "windows-1258", "ISO-8859-1"])
def test_declared_encoding_reads_each_file_as_it_says(enc: str) -> None:
    text = DOC.format(enc=enc)
    if enc == "ISO-8859-1":
        text = text.replace("Về việc tăng cường", "Tiep nhan cafe")
    raw = encode_cp1258(text) if enc == "windows-1258" else text.encode(enc.lower())
    assert declared_encoding(raw) == enc
    out = to_utf8_xml(raw, "declared").decode("utf-8")
    assert ("Về việc tăng cường" if enc != "ISO-8859-1" else "Tiep nhan cafe") in out
    assert out.startswith('<?xml version="1.0" encoding="UTF-8"?>') or enc == "UTF-8"


def test_declared_falls_back_when_the_file_says_nothing() -> None:
    raw = encode_cp1258("<VanBan><TrichYeu>Về việc</TrichYeu></VanBan>")
    out = to_utf8_xml(raw, "declared", fallback="windows-1258").decode("utf-8")
    assert "Về việc" in out


def test_decode_error_says_what_the_file_declares(adapter: Adapter) -> None:
    bad = _package().replace(b'encoding="UTF-8"', b'encoding="UTF-8"').replace("Phú Thọ".encode(), b"Ph\xfa Th\xf4", 1)
    results = adapter.translate_bytes(bad, source="bad.mime")
    (err,) = results[0].errors
    assert err.index == 0 and str(err).startswith("[edxml_2011] file bad.mime")
    assert "line" in str(err) or "UTF-8" in str(err)


def test_undecodable_file_names_its_declaration() -> None:
    from gateway.adapters.encodings import to_utf8_xml as conv

    with pytest.raises(UnicodeDecodeError, match="unknown encoding"):
        conv(b"<?xml version='1.0' encoding='x-klingon'?><a/>", "declared")
