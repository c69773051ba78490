"""Canonical packages survive parse → build → parse unchanged, byte for byte, and fit the XSD."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.edxml import (
    BusinessDocType,
    EdocPackage,
    StatusCode,
    StatusPackage,
    build_package,
    make_document_id,
    messagetype_of,
    parse_package,
    validate_bytes,
)
from gateway.edxml.document_id import parse_document_id
from gateway.edxml.model import Code
from gateway.edxml.samples import sample_edoc, sample_status
from gateway.errors import SchemaValidationError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "edxml"


@pytest.mark.parametrize("business", list(BusinessDocType))
def test_every_business_type_round_trips(business: BusinessDocType) -> None:
    pkg = sample_edoc(business=business)
    data = build_package(pkg)
    validate_bytes(data)
    result = parse_package(data)
    assert result.package == pkg
    assert result.strictly_valid
    assert build_package(result.package) == data
    assert isinstance(result.package, EdocPackage)
    assert result.package.business_type == business


@pytest.mark.parametrize("code", list(StatusCode))
def test_every_status_code_round_trips(code: StatusCode) -> None:
    pkg = sample_status(code)
    data = build_package(pkg)
    validate_bytes(data)
    result = parse_package(data)
    assert result.package == pkg
    assert isinstance(result.package, StatusPackage)
    assert result.package.status_code.wire == f"{code.value:02d}"
    assert messagetype_of(result.package) == "status"


def test_committed_valid_fixtures_match_the_builder() -> None:
    """The bundled valid_* files are exactly what the builder emits today (no drift)."""
    files = sorted(FIXTURES.glob("valid_*.edxml"))
    assert len(files) == len(BusinessDocType) + len(StatusCode)
    for path in files:
        data = path.read_bytes()
        result = parse_package(data, source_name=path.name)
        assert result.strictly_valid, (path.name, result.warnings, result.schema_issues)
        assert build_package(result.package) == data, path.name


def test_canonical_form_details() -> None:
    text = build_package(sample_edoc()).decode()
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">')
    assert '<edXML:ContentTransferEncoded xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">' in text
    assert "<ContentId>cid:" in text and "<edXML:ContentId>cid:" in text
    assert "<edXML:Bussiness>" in text and "Business>" not in text.replace("Bussiness>", "")
    assert "<edXML:PromulgationDate>2026/11/20</edXML:PromulgationDate>" in text
    assert "<edXML:Timestamp>2026/11/20 09:15:30</edXML:Timestamp>" in text
    # Header element order follows the SDK sample.
    order = ["<edXML:From>", "<edXML:To>", "<edXML:DocumentId>", "<edXML:Code>", "<edXML:PromulgationInfo>",
             "<edXML:DocumentType>", "<edXML:Subject>", "<edXML:Content>", "<edXML:SignerInfo>", "<edXML:DueDate>",
             "<edXML:OtherInfo>", "<edXML:ResponseFor>", "<edXML:SteeringType>", "<edXML:ToPlaces>"]
    positions = [text.index(tag) for tag in order]
    assert positions == sorted(positions)


def test_build_is_byte_stable_and_zip_is_deterministic() -> None:
    assert build_package(sample_edoc(zipped=True)) == build_package(sample_edoc(zipped=True))


def test_zipped_attachments_unzip_to_the_original_file() -> None:
    plain = sample_edoc()
    zipped = sample_edoc(zipped=True)
    data = build_package(zipped)
    assert b"UEsDB" in data  # base64 of the ZIP magic "PK\x03\x04"
    parsed = parse_package(data).package
    assert isinstance(parsed, EdocPackage)
    assert [a.sha256 for a in parsed.attachments] == [a.sha256 for a in plain.attachments]
    assert all(a.transfer_zipped for a in parsed.attachments)


def test_illegal_xml_characters_are_refused_with_the_path() -> None:
    pkg = sample_edoc()
    bad = EdocPackage(
        header=type(pkg.header)(**{**{f: getattr(pkg.header, f) for f in pkg.header.__slots__}, "subject": "a\x01b"}),
        trace=pkg.trace,
    )
    with pytest.raises(SchemaValidationError) as err:
        build_package(bad)
    assert "U+0001" in str(err.value) and "Subject" in str(err.value)


def test_document_id_helper() -> None:
    from datetime import date

    doc_id = make_document_id("000.00.00.G22", date(2015, 9, 30), Code("7816", "VPCP-TTĐT"))
    assert doc_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    parsed = parse_document_id(doc_id)
    assert parsed is not None and parsed.code == Code("7816", "VPCP-TTĐT")
    assert parse_document_id("852e179c-8eca-4502-ac38-0b97321f29c3") is None
    assert Code.parse("123/QĐ-UBND/2") == Code("123", "QĐ-UBND/2")
