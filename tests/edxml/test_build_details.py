"""The builder's small promises, each one a line of the canonical form a reader or a peer relies on.

Required leaves are written even when empty (the strict profile needs the element; a peer's
parser then reports "empty" rather than "missing"); optional ones are left out when empty; the
one-entry ZIP wrapper is deterministic (so a resend has the same bytes and hash); a text that XML
1.0 cannot carry is refused naming where it is; a status package carries its trace.
"""

from __future__ import annotations

import base64
import io
import re
import zipfile
from dataclasses import replace
from datetime import datetime

import pytest

from gateway.edxml import StatusPackage, build_package, parse_package
from gateway.edxml.build import messagetype_of
from gateway.edxml.model import (
    Attachment,
    Business,
    BusinessDocType,
    BusinessDocumentInfo,
    ReceiverChange,
    ReplacementInfo,
    TraceHeader,
    TraceHeaderList,
)
from gateway.edxml.samples import sample_edoc, sample_status
from gateway.errors import SchemaValidationError


def _xml(pkg: object) -> str:
    return build_package(pkg).decode("utf-8")  # type: ignore[arg-type]


def _empty(xml: str, tag: str) -> int:
    return xml.count(f"<edXML:{tag}></edXML:{tag}>")


def test_required_leaves_of_the_header_are_written_even_when_empty() -> None:
    pkg = sample_edoc()
    h = pkg.header
    header = replace(
        h,
        document_id="",
        code=replace(h.code, number="", notation=""),
        document_type=replace(h.document_type, type_name=""),
        subject="",
        signer_info=replace(h.signer_info, full_name=""),
        content="",  # optional: left out when empty
        to=(replace(h.to[0], organ_id=""),),
        to_places=("",),
        other_info=replace(h.other_info, appendixes=("",)),
        response_for=(replace(h.response_for[0], organ_id="", code="", document_id=""),),
    )
    xml = _xml(replace(pkg, header=header))
    for tag in ("CodeNumber", "CodeNotation", "TypeName", "Subject", "FullName", "Appendix"):
        assert _empty(xml, tag) == 1, tag
    assert _empty(xml, "DocumentId") == 2  # the header's and the ResponseFor's
    assert _empty(xml, "OrganId") == 2  # To and ResponseFor (From keeps its id)
    assert _empty(xml, "Code") == 1  # ResponseFor/Code
    assert _empty(xml, "Place") == 1  # ToPlaces/Place (PromulgationInfo/Place is filled)
    assert "<edXML:Content>" not in xml


def test_an_empty_optional_leaf_is_left_out_and_a_filled_one_is_written() -> None:
    pkg = sample_edoc()
    xml = _xml(replace(pkg, header=replace(pkg.header, content="")))
    assert "<edXML:Content>" not in xml
    assert "<edXML:Content>Nội dung</edXML:Content>" in _xml(replace(pkg, header=replace(pkg.header, content="Nội dung")))


def test_required_leaves_of_the_business_block_are_written_even_when_empty() -> None:
    pkg = sample_edoc()
    business = Business(
        doc_type=BusinessDocType.UPDATE,
        document_id="000.00.00.H41,2026/11/20,1/UBND",
        document_info=BusinessDocumentInfo(document_info=1, document_receiver=1,
                                           receivers=(ReceiverChange(1, ""),)),
        replacements=(ReplacementInfo(document_id="", organ_ids=("",)),),
    )
    xml = _xml(replace(pkg, trace=replace(pkg.trace, business=business)))
    assert _empty(xml, "OrganId") == 2  # Receiver/OrganId and ReplacementInfo/OrganIdList/OrganId
    assert _empty(xml, "DocumentId") == 1  # ReplacementInfo/DocumentId


def test_an_update_without_receiver_changes_writes_no_receiver_list() -> None:
    pkg = sample_edoc()
    business = Business(doc_type=BusinessDocType.UPDATE, document_id="000.00.00.H41,2026/11/20,1/UBND",
                        document_info=BusinessDocumentInfo(document_info=1, document_receiver=0))
    data = build_package(replace(pkg, trace=replace(pkg.trace, business=business)))
    info = data.decode("utf-8").split("<edXML:BussinessDocumentInfo>", 1)[1].split("</edXML:BussinessDocumentInfo>")[0]
    assert "<edXML:DocumentInfo>1</edXML:DocumentInfo>" in info
    assert "<edXML:DocumentReceiver>0</edXML:DocumentReceiver>" in info
    assert "ReceiverList" not in info and "Receiver>" not in info.replace("DocumentReceiver>", "")
    back = parse_package(data).package.trace.business
    assert back is not None and back.document_info == business.document_info


def test_the_manifest_keeps_empty_attachment_fields() -> None:
    pkg = sample_edoc()
    att = replace(pkg.attachments[0], content_type="", name="")
    xml = _xml(replace(pkg, attachments=(att,)))
    manifest = xml.split("<edXML:edXMLManifest", 1)[1].split("</edXML:edXMLManifest>", 1)[0]
    assert _empty(manifest, "ContentType") == 1 and _empty(manifest, "AttachmentName") == 1
    assert f"<edXML:ContentId>cid:{att.content_id}</edXML:ContentId>" in manifest


@pytest.mark.parametrize(("direction", "text"), [(True, "true"), (False, "false")])
def test_direction_is_written_as_an_xml_boolean(direction: bool, text: str) -> None:
    pkg = sample_edoc()
    header = replace(pkg.header, other_info=replace(pkg.header.other_info, direction=direction))
    assert f"<edXML:Direction>{text}</edXML:Direction>" in _xml(replace(pkg, header=header))
    assert parse_package(build_package(replace(pkg, header=header))).package.header.other_info.direction is direction


def test_a_package_without_recipient_is_refused_naming_the_element() -> None:
    pkg = sample_edoc()
    with pytest.raises(SchemaValidationError) as info:
        build_package(replace(pkg, header=replace(pkg.header, to=())))
    assert str(info.value).startswith("a document package needs at least one recipient")
    assert [(i.message, i.path) for i in info.value.issues] == [("To is required (1..n)", "MessageHeader/To")]


@pytest.mark.parametrize(("name", "entry"), [("quyet-dinh.so.1.pdf", "pdf"), ("bien-ban", "bin"), ("a.DOCX", "DOCX")])
def test_the_zip_wrapper_is_deterministic_and_names_its_entry_by_content_id(name: str, entry: str) -> None:
    """The SDK's one-entry ZIP: ``<ContentId>.<extension of the name>`` (``bin`` without one), the
    DOS epoch as its time, so the same attachment always gives the same bytes."""
    pkg = sample_edoc()
    att = replace(pkg.attachments[0], name=name, transfer_zipped=True)
    built = build_package(replace(pkg, attachments=(att,)))
    encoded = re.search(rb"<edXML:ContentTransferEncoded[^>]*>([^<]+)<", built)
    assert encoded is not None
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(encoded.group(1)))) as zf:
        (info,) = zf.infolist()
        assert info.filename == f"{att.content_id}.{entry}"
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.compress_type == zipfile.ZIP_DEFLATED
        with att.payload.open() as src:
            assert zf.read(info) == src.read()
    assert build_package(replace(pkg, attachments=(att,))) == built  # byte for byte, every time


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda p: replace(p, header=replace(p.header, subject="Về\x01việc")), "MessageHeader/Subject"),
        (lambda p: replace(p, header=replace(p.header, code=replace(p.header.code, notation="UBND\x0b"))),
         "MessageHeader/Code/CodeNotation"),
        (lambda p: replace(p, attachments=(replace(p.attachments[0], name="x\x1f.pdf"),)),
         "edXMLManifest/Reference/AttachmentName"),
    ],
    ids=["subject", "code-notation", "attachment-name"],
)
def test_a_character_xml_cannot_carry_is_refused_naming_where_it_is(change, path: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SchemaValidationError) as info:
        build_package(change(sample_edoc()))
    assert str(info.value).startswith("text cannot be written as XML 1.0")
    [issue] = info.value.issues
    assert issue.path == path and re.fullmatch(r"illegal character U\+00(01|0B|1F)", issue.message)


def test_a_status_package_carries_its_trace() -> None:
    trace = TraceHeaderList(trace_headers=(TraceHeader("000.00.00.G22", datetime(2026, 12, 2, 8, 0, 0)),))
    status = replace(sample_status(), trace=trace)
    xml = _xml(status)
    assert "<edXML:TraceHeaderList>" in xml and "<edXML:OrganId>000.00.00.G22</edXML:OrganId>" in xml
    read = parse_package(build_package(status)).package
    assert isinstance(read, StatusPackage) and read.trace == trace
    assert "<edXML:TraceHeaderList>" not in _xml(sample_status())  # none given, none written


def test_the_axis_messagetype_of_each_kind() -> None:
    assert messagetype_of(sample_edoc()) == "edoc"
    assert messagetype_of(sample_status()) == "status"


def test_an_attachment_is_a_reference_and_an_encoded_part_with_the_same_content_id() -> None:
    pkg = sample_edoc()
    att: Attachment = pkg.attachments[0]
    xml = _xml(pkg)
    assert xml.count(f"cid:{att.content_id}<") == 2  # manifest Reference and AttachmentEncoded


def test_markup_characters_are_escaped_in_the_manifest_and_the_attachment_part() -> None:
    pkg = sample_edoc()
    att = replace(pkg.attachments[0], name="Tờ trình <A&B>.pdf", description="\"1\" & '2'")
    xml = _xml(replace(pkg, attachments=(att,)))
    assert xml.count("Tờ trình &lt;A&amp;B&gt;.pdf") == 2
    read = parse_package(build_package(replace(pkg, attachments=(att,)))).package
    assert read.attachments[0].name == att.name and read.attachments[0].description == att.description


def test_only_packages_can_be_written() -> None:
    from gateway.edxml.build import write_package

    with pytest.raises(TypeError, match=r"^not an edXML package: dict$"):
        write_package({}, io.BytesIO())  # type: ignore[arg-type]
