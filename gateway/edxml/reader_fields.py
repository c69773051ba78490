"""Field-level reading of an edXML tree into model objects, matching on local names only.

Namespaces and prefixes vary between vendors, so elements are matched by local name; order is
ignored. Each missing or unreadable required value becomes a ValidationIssue with the element's
line and path; each tolerated variant becomes a warning string.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Iterator
from datetime import date, datetime
from typing import IO

from lxml import etree

from gateway.edxml.model import (
    Business,
    BusinessDocType,
    BusinessDocumentInfo,
    Code,
    DocumentType,
    EdocPackage,
    MessageHeader,
    Organization,
    OtherInfo,
    Priority,
    PromulgationInfo,
    ReceiverChange,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusCode,
    StatusPackage,
    SteeringType,
    TraceHeader,
    TraceHeaderList,
)
from gateway.edxml.reader_dates import parse_date, parse_datetime
from gateway.errors import ValidationIssue
from gateway.xml import source_line

__all__ = ["Reader", "parse_date", "parse_datetime"]

_LOCAL_NAMES: dict[str, str] = {}
_LOCAL_NAMES_MAX = 4096  # a cache of tag -> local name, bounded: tags come from untrusted input


def _build_index(el: etree._Element) -> tuple[dict[str, list[etree._Element]], dict[str, str | None]]:
    children: dict[str, list[etree._Element]] = {}
    texts: dict[str, str | None] = {}
    names = _LOCAL_NAMES
    for c in el:
        tag = c.tag
        if tag.__class__ is str:  # not a comment or processing instruction
            local = names.get(tag)
            if local is None:
                local = tag.rpartition("}")[2]
                if len(names) < _LOCAL_NAMES_MAX:
                    names[tag] = local
            found = children.get(local)
            if found is None:
                children[local] = [c]
                text = c.text
                texts[local] = (text.strip() or None) if text else None
            else:
                found.append(c)
    return children, texts


def _local(el: etree._Element) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


class Reader:
    """Reads model objects out of one parsed package, collecting issues and warnings."""

    def __init__(self, source: str, tree: etree._ElementTree, warnings: list[str]):
        self.source = source
        self.tree = tree
        self.warnings = warnings
        self.issues: list[ValidationIssue] = []
        self._indexes: dict[etree._Element, tuple[dict[str, list[etree._Element]], dict[str, str | None]]] = {}

    # -- navigation ---------------------------------------------------------------------------
    def issue(self, el: etree._Element, message: str) -> None:
        self.issues.append(ValidationIssue(message, path=self.tree.getpath(el), line=source_line(el)))

    def _index(self, el: etree._Element) -> tuple[dict[str, list[etree._Element]], dict[str, str | None]]:
        """Children of ``el`` by local name, and the stripped text of the first of each name.

        Built in one pass per element and cached: the reader looks up ~100 fields per package,
        and this is what keeps that cheap (each lxml proxy, tag and text is made once).
        """
        cached = self._indexes.get(el)
        if cached is None:
            cached = self._indexes[el] = _build_index(el)  # the key also keeps the lxml proxy alive
        return cached

    def children(self, el: etree._Element, name: str) -> list[etree._Element]:
        cached = self._indexes.get(el) or self._index(el)
        return cached[0].get(name, [])

    def child(self, el: etree._Element, *names: str) -> etree._Element | None:
        index = (self._indexes.get(el) or self._index(el))[0]
        for name in names:
            found = index.get(name)
            if found:
                return found[0]
        return None

    def texts(self, el: etree._Element | None, name: str) -> tuple[str, ...]:
        """Stripped texts of every child called ``name`` (a list element like ToPlaces)."""
        if el is None:
            return ()
        return tuple((c.text or "").strip() for c in self.children(el, name))

    def child_or_self(self, el: etree._Element, name: str) -> etree._Element:
        """The named child for pointing an issue at, or ``el`` itself when it is absent."""
        found = self.child(el, name)
        return found if found is not None else el

    def text(self, el: etree._Element | None, name: str) -> str | None:
        """Stripped text of the first child called ``name``; None when absent or empty."""
        if el is None:
            return None
        return (self._indexes.get(el) or self._index(el))[1].get(name)

    def required(self, el: etree._Element, name: str) -> str:
        value = self.text(el, name)
        if value is None:
            self.issue(el, f"{name} is required")
            return ""
        return value

    def integer(self, el: etree._Element | None, name: str, default: int | None = None) -> int | None:
        value = self.text(el, name)
        if value is None or el is None:
            return default
        try:
            return int(value)
        except ValueError:
            self.issue(self.child_or_self(el, name), f"{name} must be an integer, got {value!r}")
            return default

    def date_of(self, el: etree._Element | None, name: str, *, required: bool = False) -> date | None:
        value = self.text(el, name)
        if value is None or el is None:
            if required and el is not None:
                self.issue(el, f"{name} is required")
            return None
        try:
            parsed, canonical = parse_date(value)
        except ValueError as exc:
            self.issue(self.child_or_self(el, name), str(exc))
            return None
        if not canonical:
            self.warnings.append(f"{name} {value!r} is not in the canonical yyyy/MM/dd form")
        return parsed

    def datetime_of(self, el: etree._Element, name: str) -> datetime | None:
        value = self.text(el, name)
        if value is None:
            self.issue(el, f"{name} is required")
            return None
        try:
            parsed, canonical = parse_datetime(value)
        except ValueError as exc:
            self.issue(self.child_or_self(el, name), str(exc))
            return None
        if not canonical:
            self.warnings.append(f"{name} {value!r} is not in the canonical yyyy/MM/dd HH:mm:ss form")
        return parsed

    # -- structure ----------------------------------------------------------------------------
    def header_container(self, root: etree._Element) -> etree._Element | None:
        env = self.child(root, "edXMLEnvelope")
        return self.child(env, "edXMLHeader") if env is not None else None

    def header(self, root: etree._Element) -> etree._Element | None:
        container = self.header_container(root)
        if container is None:
            return None
        found = self.child(container, "MessageHeader")
        if found is None:
            found = self.child(container, "Status")
            if found is not None:
                self.warnings.append("status element is named Status (Bkav form); read as MessageHeader")
        return found

    def is_status(self, header: etree._Element) -> bool:
        return _local(header) == "Status" or self.child(header, "StatusCode") is not None

    # -- common parts -------------------------------------------------------------------------
    def organization(self, el: etree._Element) -> Organization:
        return Organization(
            organ_id=self.required(el, "OrganId"),
            organ_name=self.text(el, "OrganName"),
            organization_in_charge=self.text(el, "OrganizationInCharge"),
            organ_add=self.text(el, "OrganAdd"),
            email=self.text(el, "Email"),
            telephone=self.text(el, "Telephone"),
            fax=self.text(el, "Fax"),
            website=self.text(el, "Website"),
        )

    def response_for(self, el: etree._Element) -> ResponseFor | None:
        if len(el) == 0:  # the SDK's empty <ResponseFor/>: nothing to answer, so nothing to keep
            self.warnings.append(f"empty ResponseFor at {self.tree.getpath(el)} ignored")
            return None
        return ResponseFor(
            organ_id=self.text(el, "OrganId") or "",
            code=self.text(el, "Code") or "",
            document_id=self.text(el, "DocumentId") or "",
            promulgation_date=self.date_of(el, "PromulgationDate"),
        )

    def staff(self, el: etree._Element | None) -> StaffInfo | None:
        if el is None:
            return None
        return StaffInfo(
            department=self.text(el, "Department"),
            staff=self.text(el, "Staff"),
            mobile=self.text(el, "Mobile"),
            email=self.text(el, "Email"),
        )

    def trace(self, root: etree._Element) -> TraceHeaderList | None:
        container = self.header_container(root)
        el = self.child(container, "TraceHeaderList") if container is not None else None
        if el is None:
            return None
        hops: list[TraceHeader] = []
        for th in self.children(el, "TraceHeader"):
            ts = self.datetime_of(th, "Timestamp")
            if ts is not None:
                organ = self.text(th, "OrganId")
                if organ == "null" or (organ is None and self.child(th, "OrganId") is not None):
                    # an axis hop's literal null (or empty) OrganId is dropped: say so. A hop with no
                    # OrganId element at all is the strict profile's own form (minOccurs 0, and what the
                    # builder writes for it), so it is read without a warning.
                    said = "an empty OrganId" if organ is None else "OrganId 'null'"
                    where = self.tree.getpath(th)
                    self.warnings.append(f"TraceHeader at {where} has {said}; read as a hop without one")
                    organ = None
                hops.append(TraceHeader(organ, ts))
        return TraceHeaderList(tuple(hops), self.business(el))

    def business(self, trace: etree._Element) -> Business | None:
        el = self.child(trace, "Bussiness")
        prefix = "Bussiness"
        if el is None:
            el = self.child(trace, "Business")
            if el is None:
                return None
            self.warnings.append("Business block spelled 'Business' (Bkav form); read as Bussiness")
        if self.child(el, "BussinessDocType") is None and self.child(el, "BusinessDocType") is not None:
            prefix = "Business"
        raw_type = self.integer(el, f"{prefix}DocType", 0)
        try:
            doc_type = BusinessDocType(raw_type or 0)
        except ValueError:
            self.issue(el, f"{prefix}DocType must be 0, 1, 2 or 3, got {raw_type}")
            doc_type = BusinessDocType.NEW
        info_el = self.child(el, f"{prefix}DocumentInfo")
        info = None
        if info_el is not None:
            receivers: list[ReceiverChange] = []
            rlist = self.child(info_el, "ReceiverList")
            for r in self.children(rlist, "Receiver") if rlist is not None else []:
                receivers.append(ReceiverChange(self.integer(r, "ReceiverType", 0) or 0, self.required(r, "OrganId")))
            info = BusinessDocumentInfo(
                document_info=self.integer(info_el, "DocumentInfo", 0) or 0,
                document_receiver=self.integer(info_el, "DocumentReceiver", 0) or 0,
                receivers=tuple(receivers),
            )
        replacements: list[ReplacementInfo] = []
        rep_list = self.child(el, "ReplacementInfoList")
        for rep in self.children(rep_list, "ReplacementInfo") if rep_list is not None else []:
            organs = self.child(rep, "OrganIdList")
            ids = tuple((o.text or "").strip() for o in self.children(organs, "OrganId")) if organs is not None else ()
            replacements.append(ReplacementInfo(self.required(rep, "DocumentId"), ids))
        return Business(
            doc_type=doc_type,
            document_id=self.text(el, "DocumentId"),
            reason=self.text(el, f"{prefix}DocReason"),
            paper=self.integer(el, "Paper"),
            document_info=info,
            replacements=tuple(replacements),
            staff_info=self.staff(self.child(el, "StaffInfo")),
        )

    # -- document package ---------------------------------------------------------------------
    def message_header(self, h: etree._Element) -> MessageHeader:
        from_el = self.child(h, "From")
        if from_el is None:
            self.issue(h, "From is required")
        to_els = self.children(h, "To")
        if not to_els:
            self.issue(h, "at least one To is required")
        code_el = self.child(h, "Code")
        if code_el is None:
            self.issue(h, "Code (CodeNumber, CodeNotation) is required")
            code = Code("", "")
        else:
            code = Code(self.required(code_el, "CodeNumber"), self.text(code_el, "CodeNotation") or "")
        pinfo = self.child(h, "PromulgationInfo")
        if pinfo is None:
            self.issue(h, "PromulgationInfo is required")
        pdate = self.date_of(pinfo, "PromulgationDate", required=True)
        dtype = self.child(h, "DocumentType")
        if dtype is None:
            self.issue(h, "DocumentType is required")
        signer = self.child(h, "SignerInfo")
        if signer is None:
            self.issue(h, "SignerInfo is required")
        other = self.child(h, "OtherInfo")
        subject = self.text(h, "Subject")
        if subject is None:
            self.issue(h, "Subject is required")
        responses = [r for r in (self.response_for(x) for x in self.children(h, "ResponseFor")) if r is not None]
        steering = self.integer(h, "SteeringType", 0) or 0
        if steering not in (0, 1, 2):
            self.warnings.append(f"SteeringType {steering} is unknown; read as 0")
            steering = 0
        priority = self.integer(other, "Priority", 0) or 0
        if priority not in range(5):
            self.warnings.append(f"Priority {priority} is unknown; read as 0")
            priority = 0
        places = self.child(h, "ToPlaces")
        appendixes = self.child(other, "Appendixes") if other is not None else None
        direction = self.text(other, "Direction")
        return MessageHeader(
            from_=self.organization(from_el) if from_el is not None else Organization(""),
            to=tuple(self.organization(t) for t in to_els),
            document_id=self.required(h, "DocumentId"),
            code=code,
            promulgation_info=PromulgationInfo(self.text(pinfo, "Place"), pdate or date.min),
            document_type=DocumentType(
                type=self.integer(dtype, "Type", 0) or 0,
                type_name=self.text(dtype, "TypeName") or "",
                type_detail=self.integer(dtype, "TypeDetail"),
            ),
            subject=subject or "",
            signer_info=SignerInfo(
                full_name=self.text(signer, "FullName") or "",
                competence=self.text(signer, "Competence"),
                position=self.text(signer, "Position"),
            ),
            content=self.text(h, "Content"),
            due_date=self.date_of(h, "DueDate"),
            to_places=self.texts(places, "Place"),
            other_info=OtherInfo(
                priority=Priority(priority),
                sphere_of_promulgation=self.text(other, "SphereOfPromulgation"),
                typer_notation=self.text(other, "TyperNotation"),
                promulgation_amount=self.integer(other, "PromulgationAmount"),
                page_amount=self.integer(other, "PageAmount"),
                direction=None if direction is None else direction.lower() == "true",
                appendixes=self.texts(appendixes, "Appendix"),
            ),
            response_for=tuple(responses),
            steering_type=SteeringType(steering),
        )

    def signature_xml(self, root: etree._Element) -> bytes | None:
        container = self.header_container(root)
        sig = self.child(container, "Signature") if container is not None else None
        if sig is None:
            return None
        return etree.tostring(sig, encoding="utf-8")

    def references(self, root: etree._Element) -> list[etree._Element]:
        env = self.child(root, "edXMLEnvelope")
        body = self.child(env, "edXMLBody") if env is not None else None
        manifest = self.child(body, "edXMLManifest") if body is not None else None
        return self.children(manifest, "Reference") if manifest is not None else []

    def attachment_elements(self, root: etree._Element) -> Iterator[tuple[etree._Element, etree._Element | None]]:
        encoded = self.child(root, "AttachmentEncoded")
        if encoded is None:
            return
        for att in self.children(encoded, "Attachment"):
            yield att, self.child(att, "ContentTransferEncoded")

    def content_id(self, el: etree._Element, where: str) -> str | None:
        raw = self.text(el, "ContentId")
        if raw is None:
            self.issue(el, f"{where}/ContentId is required")
            return None
        if raw.startswith("cid:"):
            return raw[4:]
        self.warnings.append(f"{where} ContentId {raw!r} has no cid: prefix")
        return raw

    def inline_payload(self, att: etree._Element) -> IO[bytes] | None:
        """Payload text the splicer left in the tree (CDATA and the like): small by construction."""
        enc = self.child(att, "ContentTransferEncoded")
        if enc is None or enc.text is None:
            return None
        try:
            return io.BytesIO(base64.b64decode("".join(enc.text.split()), validate=True))
        except binascii.Error as exc:
            self.issue(enc, f"ContentTransferEncoded is not valid base64 ({exc})")
            return None

    def edoc_package(self, h: etree._Element, root: etree._Element, attachments: tuple[object, ...]) -> EdocPackage:
        trace = self.trace(root)
        if trace is None:
            self.warnings.append("TraceHeaderList is missing")
            trace = TraceHeaderList()
        elif trace.business is None:
            self.warnings.append("Bussiness block is missing; treated as a new document (type 0)")
        return EdocPackage(
            header=self.message_header(h),
            trace=trace,
            attachments=attachments,  # type: ignore[arg-type]
            signature_xml=self.signature_xml(root),
        )

    # -- status package -----------------------------------------------------------------------
    def status_package(self, h: etree._Element, root: etree._Element) -> StatusPackage:
        from_el = self.child(h, "From")
        if from_el is None:
            self.issue(h, "From is required")
        rf_el = self.child(h, "ResponseFor")
        rf = self.response_for(rf_el) if rf_el is not None else None
        if rf is None:
            self.issue(h, "ResponseFor (OrganId, Code, PromulgationDate, DocumentId) is required")
        raw_code = self.text(h, "StatusCode")
        code = StatusCode.RECEIVED
        if raw_code is None:
            self.issue(h, "StatusCode is required")
        else:
            try:
                code = StatusCode.from_wire(raw_code)
            except ValueError:
                self.issue(
                    self.child_or_self(h, "StatusCode"),
                    f"StatusCode {raw_code!r} is not one of 01-06, 13, 15, 16",
                )
        ts = self.datetime_of(h, "Timestamp")
        return StatusPackage(
            from_=self.organization(from_el) if from_el is not None else Organization(""),
            response_for=rf or ResponseFor("", "", ""),
            status_code=code,
            timestamp=ts or datetime.min,
            description=self.text(h, "Description"),
            staff_info=self.staff(self.child(h, "StaffInfo")),
            trace=self.trace(root),
        )
