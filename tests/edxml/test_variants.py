"""Vendor variants are read into the same model as the canonical form, with warnings saying why."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.edxml import EdocPackage, StatusPackage, build_package, parse_package
from gateway.edxml.samples import sample_edoc, sample_status
from gateway.errors import EdxmlFormatError, SchemaValidationError, XmlSyntaxError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "edxml"


def load(name: str):  # type: ignore[no-untyped-def]
    return parse_package(FIXTURES / name)


@pytest.mark.parametrize(
    ("name", "warning"),
    [
        ("variant_business_spelling.edxml", "spelled 'Business'"),
        ("variant_no_cid_prefix.edxml", "no cid: prefix"),
        ("variant_dates_ddmmyyyy.edxml", "canonical yyyy/MM/dd"),
        ("variant_dates_iso.edxml", "canonical yyyy/MM/dd"),
        ("variant_stray_prefix.edxml", "stray bytes"),
    ],
)
def test_variant_reads_as_the_canonical_package(name: str, warning: str) -> None:
    result = load(name)
    assert result.package == sample_edoc()
    assert any(warning in w for w in result.warnings), result.warnings
    assert not result.strictly_valid


def test_any_child_order_is_accepted_but_reported_against_the_profile() -> None:
    result = load("variant_reordered.edxml")
    assert result.package == sample_edoc()
    assert result.schema_issues and result.schema_issues[0].line == 6
    assert "not expected" in result.schema_issues[0].message


def test_zipped_attachments_are_valid_and_unzipped() -> None:
    result = load("variant_zipped_attachments.edxml")
    assert result.strictly_valid
    assert isinstance(result.package, EdocPackage)
    assert [a.payload for a in result.package.attachments] == [a.payload for a in sample_edoc().attachments]


def test_status_element_named_status() -> None:
    result = load("variant_status_element.edxml")
    assert isinstance(result.package, StatusPackage)
    assert result.package == sample_status()
    assert any("named Status" in w for w in result.warnings)


def test_real_axis_traffic_shape() -> None:
    result = load("variant_axis_traffic.edxml")
    pkg = result.package
    assert isinstance(pkg, EdocPackage)
    assert pkg.header.document_id == "852e179c-8eca-4502-ac38-0b97321f29c3"
    assert pkg.header.response_for == ()
    assert pkg.trace.business is None and pkg.business_type == 0
    assert [t.organ_id for t in pkg.trace.trace_headers] == ["000.00.00.H41", None, None, "02.29.W00"]
    assert pkg.signature_xml is not None and b"rsa-sha1" in pkg.signature_xml
    assert pkg.header.document_type.type_detail is None
    assert any("Bussiness block is missing" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("name", "error", "fragment", "line"),
    [
        ("invalid_missing_from.edxml", SchemaValidationError, "From is required", 5),
        ("invalid_status_code_14.edxml", SchemaValidationError, "'14' is not one of", 23),
        ("invalid_bad_date.edxml", SchemaValidationError, "'20th November' is not a date", 32),
        ("invalid_wrong_namespace.edxml", EdxmlFormatError, "expected http://www.mic.gov.vn/TBT/QCVN_102_2016", None),
        ("invalid_legacy_2011.edxml", EdxmlFormatError, "edxml_2011 adapter", None),
        ("invalid_truncated.edxml", XmlSyntaxError, "truncated", None),
        ("invalid_not_xml.edxml", XmlSyntaxError, "not an XML document", None),
    ],
)
def test_refused_inputs_name_file_line_and_reason(name: str, error: type, fragment: str, line: int | None) -> None:
    with pytest.raises(error) as err:
        load(name)
    text = str(err.value)
    assert fragment in text
    assert name in text
    if line is not None:
        assert isinstance(err.value, SchemaValidationError)
        assert any(i.line == line for i in err.value.issues), err.value.issues


def test_all_issues_are_reported_together() -> None:
    data = (FIXTURES / "valid_edoc_new.edxml").read_bytes()
    data = data.replace(b"<edXML:Subject>", b"<edXML:Subjekt>").replace(b"</edXML:Subject>", b"</edXML:Subjekt>")
    data = data.replace(b"<edXML:CodeNumber>2440</edXML:CodeNumber>", b"")
    with pytest.raises(SchemaValidationError) as err:
        parse_package(data)
    messages = [i.message for i in err.value.issues]
    assert "Subject is required" in messages and "CodeNumber is required" in messages


def test_reference_without_attachment_is_an_issue() -> None:
    data = (FIXTURES / "valid_edoc_new.edxml").read_bytes()
    start = data.index(b"<Attachment>")
    end = data.index(b"</Attachment>") + len(b"</Attachment>\n")
    with pytest.raises(SchemaValidationError, match="has no AttachmentEncoded/Attachment"):
        parse_package(data[:start] + data[end:])


def test_bad_base64_is_reported() -> None:
    data = (FIXTURES / "valid_edoc_new.edxml").read_bytes()
    assert b">JVBER" in data  # base64 of "%PDF"
    broken = data.replace(b">JVBER", b">!!!!JVBER", 1)
    with pytest.raises(XmlSyntaxError, match="not valid base64"):
        parse_package(broken)


def _with_encoded_text(transform) -> bytes:  # type: ignore[no-untyped-def]
    import re

    data = (FIXTURES / "valid_edoc_new.edxml").read_bytes()
    return re.sub(rb'(<edXML:ContentTransferEncoded xmlns:edXML="[^"]+">)([^<]+)(<)',
                  lambda m: m.group(1) + transform(m.group(2)) + m.group(3), data)


def test_line_wrapped_base64_is_read_and_rebuilt_canonically() -> None:
    wrapped = _with_encoded_text(lambda b64: b"\r\n".join(b64[i:i + 76] for i in range(0, len(b64), 76)) + b"\r\n")
    assert wrapped.count(b"\r\n") > 4
    result = parse_package(wrapped)
    assert result.package == sample_edoc()
    assert build_package(result.package) == (FIXTURES / "valid_edoc_new.edxml").read_bytes()


def test_cdata_wrapped_base64_is_not_lost() -> None:
    cdata = _with_encoded_text(lambda b64: b"<![CDATA[" + b64 + b"]]>")
    assert b"<![CDATA[" in cdata
    pkg = parse_package(cdata).package
    assert isinstance(pkg, EdocPackage)
    assert [a.sha256 for a in pkg.attachments] == [a.sha256 for a in sample_edoc().attachments]
