"""The strict builder: one canonical, byte-stable serialisation of edXML packages.

It writes XML text directly (not through a DOM) for two reasons: the output must be identical
byte for byte on every run and platform, and an attachment of hundreds of megabytes must be
base64-encoded straight from the blob store to the output stream without being held in memory.

Canonical form (mirrors the VPCP SDK sample, see shared/docs/edxml-qcvn102.md §1.2–§1.4):
default namespace on the root, ``edXML:`` prefix on every envelope element, element order as in
the standard's table, dates ``yyyy/MM/dd``, date-times ``yyyy/MM/dd HH:mm:ss``, status code as two
digits, ``cid:`` on ContentId in both places, unprefixed AttachmentEncoded/Attachment, and
``edXML:ContentTransferEncoded`` with its own ``xmlns:edXML`` declaration.
"""

from __future__ import annotations

import base64
import io
import re
import zipfile
from collections.abc import Iterable
from datetime import date, datetime
from typing import IO

from gateway.edxml.model import (
    NS,
    Attachment,
    Base64Payload,
    Business,
    EdocPackage,
    MessageHeader,
    Organization,
    Package,
    ResponseFor,
    StaffInfo,
    StatusPackage,
    TraceHeaderList,
)
from gateway.errors import SchemaValidationError, ValidationIssue

DATE_FORMAT = "%Y/%m/%d"
DATETIME_FORMAT = "%Y/%m/%d %H:%M:%S"

# XML 1.0 forbids these code points even when escaped.
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_NEEDS_CARE = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_B64_CHUNK = 3 * 256 * 1024  # multiple of 3 so chunks concatenate into one valid base64 line


def format_date(value: date) -> str:
    return f"{value.year:04d}/{value.month:02d}/{value.day:02d}"


def format_datetime(value: datetime) -> str:
    return (
        f"{value.year:04d}/{value.month:02d}/{value.day:02d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    )


def _text(value: str, path: list[str], leaf: str) -> str:
    """``value`` escaped for XML text; refuses characters XML 1.0 cannot carry, naming the path."""
    if _NEEDS_CARE.search(value) is None:  # the common case: one C-level scan, nothing to do
        return value
    bad = _ILLEGAL_XML.search(value)
    if bad:
        raise SchemaValidationError(
            "text cannot be written as XML 1.0",
            [ValidationIssue(f"illegal character U+{ord(bad.group()):04X}", path="/".join([*path, leaf]))],
        )
    return value.translate(_ESCAPES)


class _Writer:
    """Accumulates UTF-8 output and flushes it to a stream; tracks the element path for errors."""

    def __init__(self, out: IO[bytes]):
        self.out = out
        self.parts: list[str] = []
        self.path: list[str] = []

    def flush(self) -> None:
        if self.parts:
            self.out.write("".join(self.parts).encode("utf-8"))
            self.parts.clear()

    def raw(self, text: str) -> None:
        self.parts.append(text)

    def open(self, name: str) -> None:
        """Start a container element (its children follow on the next line)."""
        self.path.append(name)
        self.parts.append(f"<edXML:{name}>\n")

    def close(self, name: str) -> None:
        self.path.pop()
        self.parts.append(f"</edXML:{name}>\n")

    def leaf(self, name: str, value: str | int | None, *, keep_empty: bool = False) -> None:
        """Write ``<edXML:name>value</edXML:name>``; skip None and (unless asked) empty strings."""
        if value is None or (value == "" and not keep_empty):
            return
        text = _text(value, self.path, name) if isinstance(value, str) else str(value)
        self.parts.append(f"<edXML:{name}>{text}</edXML:{name}>\n")


def _organization(w: _Writer, tag: str, org: Organization) -> None:
    w.open(tag)
    w.leaf("OrganId", org.organ_id, keep_empty=True)
    w.leaf("OrganizationInCharge", org.organization_in_charge)
    w.leaf("OrganName", org.organ_name)
    w.leaf("OrganAdd", org.organ_add)
    w.leaf("Email", org.email)
    w.leaf("Telephone", org.telephone)
    w.leaf("Fax", org.fax)
    w.leaf("Website", org.website)
    w.close(tag)


def _response_for(w: _Writer, rf: ResponseFor) -> None:
    w.open("ResponseFor")
    w.leaf("OrganId", rf.organ_id, keep_empty=True)
    w.leaf("Code", rf.code, keep_empty=True)
    if rf.promulgation_date is not None:
        w.leaf("PromulgationDate", format_date(rf.promulgation_date))
    w.leaf("DocumentId", rf.document_id, keep_empty=True)
    w.close("ResponseFor")


def _staff(w: _Writer, staff: StaffInfo | None) -> None:
    if staff is None:
        return
    w.open("StaffInfo")
    w.leaf("Department", staff.department)
    w.leaf("Staff", staff.staff)
    w.leaf("Mobile", staff.mobile)
    w.leaf("Email", staff.email)
    w.close("StaffInfo")


def _message_header(w: _Writer, h: MessageHeader) -> None:
    w.open("MessageHeader")
    _organization(w, "From", h.from_)
    if not h.to:
        raise SchemaValidationError(
            "a document package needs at least one recipient",
            [ValidationIssue("To is required (1..n)", path="MessageHeader/To")],
        )
    for org in h.to:
        _organization(w, "To", org)
    w.leaf("DocumentId", h.document_id, keep_empty=True)
    w.open("Code")
    w.leaf("CodeNumber", h.code.number, keep_empty=True)
    w.leaf("CodeNotation", h.code.notation, keep_empty=True)
    w.close("Code")
    w.open("PromulgationInfo")
    w.leaf("Place", h.promulgation_info.place)
    w.leaf("PromulgationDate", format_date(h.promulgation_info.promulgation_date))
    w.close("PromulgationInfo")
    w.open("DocumentType")
    w.leaf("Type", h.document_type.type)
    w.leaf("TypeDetail", h.document_type.type_detail)
    w.leaf("TypeName", h.document_type.type_name, keep_empty=True)
    w.close("DocumentType")
    w.leaf("Subject", h.subject, keep_empty=True)
    w.leaf("Content", h.content)
    w.open("SignerInfo")
    w.leaf("Competence", h.signer_info.competence)
    w.leaf("Position", h.signer_info.position)
    w.leaf("FullName", h.signer_info.full_name, keep_empty=True)
    w.close("SignerInfo")
    if h.due_date is not None:
        w.leaf("DueDate", format_date(h.due_date))
    o = h.other_info
    w.open("OtherInfo")
    w.leaf("Priority", int(o.priority))
    w.leaf("SphereOfPromulgation", o.sphere_of_promulgation)
    w.leaf("TyperNotation", o.typer_notation)
    w.leaf("PromulgationAmount", o.promulgation_amount)
    w.leaf("PageAmount", o.page_amount)
    if o.direction is not None:
        w.leaf("Direction", "true" if o.direction else "false")
    if o.appendixes:
        w.open("Appendixes")
        for appendix in o.appendixes:
            w.leaf("Appendix", appendix, keep_empty=True)
        w.close("Appendixes")
    w.close("OtherInfo")
    for rf in h.response_for:
        _response_for(w, rf)
    w.leaf("SteeringType", int(h.steering_type))
    if h.to_places:
        w.open("ToPlaces")
        for place in h.to_places:
            w.leaf("Place", place, keep_empty=True)
        w.close("ToPlaces")
    w.close("MessageHeader")


def _business(w: _Writer, b: Business) -> None:
    w.open("Bussiness")
    w.leaf("DocumentId", b.document_id)
    w.leaf("BussinessDocType", int(b.doc_type))
    w.leaf("BussinessDocReason", b.reason)
    w.leaf("Paper", b.paper)
    if b.document_info is not None:
        info = b.document_info
        w.open("BussinessDocumentInfo")
        w.leaf("DocumentInfo", info.document_info)
        w.leaf("DocumentReceiver", info.document_receiver)
        if info.receivers:
            w.open("ReceiverList")
            for r in info.receivers:
                w.open("Receiver")
                w.leaf("ReceiverType", r.receiver_type)
                w.leaf("OrganId", r.organ_id, keep_empty=True)
                w.close("Receiver")
            w.close("ReceiverList")
        w.close("BussinessDocumentInfo")
    if b.replacements:
        w.open("ReplacementInfoList")
        for rep in b.replacements:
            w.open("ReplacementInfo")
            w.leaf("DocumentId", rep.document_id, keep_empty=True)
            w.open("OrganIdList")
            for organ in rep.organ_ids:
                w.leaf("OrganId", organ, keep_empty=True)
            w.close("OrganIdList")
            w.close("ReplacementInfo")
        w.close("ReplacementInfoList")
    _staff(w, b.staff_info)
    w.close("Bussiness")


def _trace(w: _Writer, t: TraceHeaderList) -> None:
    w.open("TraceHeaderList")
    for th in t.trace_headers:
        w.open("TraceHeader")
        w.leaf("OrganId", th.organ_id)
        w.leaf("Timestamp", format_datetime(th.timestamp))
        w.close("TraceHeader")
    if t.business is not None:
        _business(w, t.business)
    w.close("TraceHeaderList")


def _zip_one(att: Attachment) -> bytes:
    """The SDK's one-entry ZIP wrapper, made deterministic (fixed timestamp, stored name)."""
    buf = io.BytesIO()
    ext = att.name.rsplit(".", 1)[-1] if "." in att.name else "bin"
    info = zipfile.ZipInfo(f"{att.content_id}.{ext}", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buf, "w") as zf, att.payload.open() as src, zf.open(info, "w") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    return buf.getvalue()


def _escaped(value: str) -> str:
    """``value`` escaped for XML text, for a value :func:`_text` has already checked."""
    return value.translate(_ESCAPES) if _NEEDS_CARE.search(value) else value


def _attachment(w: _Writer, att: Attachment) -> None:
    # the manifest (written before, by _references) carries the same ContentId, name, description and
    # content type through _text, which refuses what XML 1.0 cannot carry naming the Reference's path;
    # here they only need escaping ("application/zip" is ours)
    w.raw(f"<Attachment>\n<ContentId>cid:{_escaped(att.content_id)}</ContentId>\n")
    w.raw(f"<AttachmentName>{_escaped(att.name)}</AttachmentName>\n")
    if att.description:
        w.raw(f"<Description>{_escaped(att.description)}</Description>\n")
    wire_type = "application/zip" if att.transfer_zipped else att.content_type
    w.raw(f"<ContentType>{_escaped(wire_type)}</ContentType>\n")
    w.raw(f'<edXML:ContentTransferEncoded xmlns:edXML="{NS}">')
    w.flush()
    if isinstance(att.payload, Base64Payload) and not att.transfer_zipped:
        w.out.write(att.payload.encoded)  # validated and canonical when the reader made it
        w.raw("</edXML:ContentTransferEncoded>\n</Attachment>\n")
        return
    source: IO[bytes] = io.BytesIO(_zip_one(att)) if att.transfer_zipped else att.payload.open()
    with source:
        while chunk := source.read(_B64_CHUNK):
            w.out.write(base64.b64encode(chunk))
    w.raw("</edXML:ContentTransferEncoded>\n</Attachment>\n")


def _references(w: _Writer, attachments: Iterable[Attachment]) -> None:
    w.raw('<edXML:edXMLBody>\n<edXML:edXMLManifest version="1.0">\n')
    w.path.append("edXMLManifest")
    for att in attachments:
        w.open("Reference")
        w.leaf("ContentId", f"cid:{att.content_id}", keep_empty=True)
        w.leaf("ContentType", att.content_type, keep_empty=True)
        w.leaf("Description", att.description)
        w.leaf("AttachmentName", att.name, keep_empty=True)
        w.close("Reference")
    w.path.pop()
    w.raw("</edXML:edXMLManifest>\n</edXML:edXMLBody>\n")


_PROLOGUE = f'<?xml version="1.0" encoding="UTF-8"?>\n<edXML xmlns="{NS}">\n<edXML:edXMLEnvelope xmlns:edXML="{NS}">\n'


def _write_edoc(w: _Writer, pkg: EdocPackage) -> None:
    w.raw(_PROLOGUE)
    w.raw("<edXML:edXMLHeader>\n")
    _message_header(w, pkg.header)
    _trace(w, pkg.trace)
    if pkg.signature_xml:
        w.raw(pkg.signature_xml.decode("utf-8").strip() + "\n")
    w.raw("</edXML:edXMLHeader>\n")
    _references(w, pkg.attachments)
    w.raw("</edXML:edXMLEnvelope>\n")
    if pkg.attachments:
        w.raw("<AttachmentEncoded>\n")
        for att in pkg.attachments:
            _attachment(w, att)
        w.raw("</AttachmentEncoded>\n")
    w.raw("</edXML>\n")


def _write_status(w: _Writer, pkg: StatusPackage) -> None:
    w.raw(_PROLOGUE)
    w.raw("<edXML:edXMLHeader>\n")
    w.open("MessageHeader")
    _organization(w, "From", pkg.from_)
    _response_for(w, pkg.response_for)
    _staff(w, pkg.staff_info)
    w.leaf("StatusCode", pkg.status_code.wire)
    w.leaf("Description", pkg.description)
    w.leaf("Timestamp", format_datetime(pkg.timestamp))
    w.close("MessageHeader")
    if pkg.trace is not None:
        _trace(w, pkg.trace)
    w.raw("</edXML:edXMLHeader>\n</edXML:edXMLEnvelope>\n</edXML>\n")


def write_package(pkg: Package, out: IO[bytes]) -> None:
    """Serialise ``pkg`` in the canonical form to ``out``, streaming attachment payloads."""
    w = _Writer(out)
    if isinstance(pkg, EdocPackage):
        _write_edoc(w, pkg)
    elif isinstance(pkg, StatusPackage):
        _write_status(w, pkg)
    else:  # typing rules it out; a caller without types gets this
        raise TypeError(f"not an edXML package: {type(pkg).__name__}")
    w.flush()


def build_package(pkg: Package) -> bytes:
    """The canonical bytes of ``pkg`` (use :func:`write_package` for large attachments)."""
    buf = io.BytesIO()
    write_package(pkg, buf)
    return buf.getvalue()


def messagetype_of(pkg: Package) -> str:
    """The axis ``messagetype`` header value for a package: ``edoc`` or ``status``."""
    return "status" if isinstance(pkg, StatusPackage) else "edoc"
