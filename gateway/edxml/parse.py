"""The lenient reader: turns what real senders emit into the canonical model, saying what it tolerated.

Accepted variants (each reported as a warning): any child order, ``Bussiness`` or ``Business``,
``cid:`` prefixes present or absent, attachments raw or as a one-entry ZIP, dates as
``yyyy/MM/dd``, ``dd/MM/yyyy`` or ISO, stray bytes before the XML declaration, ``Status`` or
``MessageHeader`` as the status element, a missing ``Bussiness`` block (a new document).

Anything that prevents building a faithful model (a missing ``From``, an unreadable date, a
manifest entry without its file) is collected as a :class:`ValidationIssue` with line and path,
and all of them are raised together in one :class:`SchemaValidationError`.
"""

from __future__ import annotations

import base64
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from lxml import etree

from gateway.edxml import reader_fields as f
from gateway.edxml.inflate import open_single_entry
from gateway.edxml.model import LEGACY_NS, NS, Attachment, Base64Payload, BytesPayload, Package, Payload
from gateway.edxml.schema import schema_issues
from gateway.edxml.spill import read_capped
from gateway.edxml.splice import PAYLOAD_ATTR, SMALL_PACKAGE, splice, splice_bytes
from gateway.errors import EdxmlFormatError, Location, SchemaValidationError, ValidationIssue
from gateway.limits import DEFAULT_INPUT_LIMITS, InputLimits
from gateway.xml import XmlLimits, parse_xml, source_line

ZIP_MAGIC = b"PK\x03\x04"

#: Default ceiling for a whole package including attachments (the skeleton keeps XmlLimits.max_bytes).
DEFAULT_MAX_PACKAGE_BYTES = 2 * 1024 * 1024 * 1024


class PayloadStore(Protocol):
    """What the parser needs from a blob store (see gateway.blobstore.BlobStore)."""

    def put_stream(self, stream: IO[bytes]) -> Payload: ...


@dataclass(frozen=True, slots=True)
class ParseResult:
    """A parsed package, what the reader tolerated, and where it departs from the strict profile."""

    package: Package
    warnings: tuple[str, ...] = ()
    schema_issues: tuple[ValidationIssue, ...] = ()

    @property
    def strictly_valid(self) -> bool:
        """True when the input matches the strict XSD profile and needed no tolerance."""
        return not self.warnings and not self.schema_issues


def _open_source(source: bytes | str | os.PathLike[str] | IO[bytes], name: str | None) -> tuple[IO[bytes], str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source)), name or "<bytes>"
    if isinstance(source, (str, os.PathLike)):
        try:
            return Path(source).open("rb"), name or str(source)
        except OSError as exc:
            raise EdxmlFormatError(f"cannot open package: {exc.strerror}", location=Location(str(source))) from exc
    return source, name or getattr(source, "name", None) or "<stream>"


def _materialise(
    raw: IO[bytes],
    store: PayloadStore | None,
    name: str,
    index: int,
    *,
    encoded: bool = False,
    limits: InputLimits = DEFAULT_INPUT_LIMITS,
) -> tuple[Payload, bool]:
    """Unzip a one-entry ZIP if that is what arrived, then put the file in the store (or memory).

    ``encoded`` means ``raw`` holds validated base64 text (the in-memory path): it stays encoded
    unless it is a ZIP, or its encoding is not canonical (so rebuilding stays byte-identical).
    """
    if encoded:
        text = raw.read()
        payload = Base64Payload(text)
        if (text[:8] and base64.b64decode(text[:8])[:4] == ZIP_MAGIC) or not _canonical_b64(text):
            raw = io.BytesIO(payload.data)
        else:
            return payload, False
    head = raw.read(4)
    raw.seek(0)
    stream: IO[bytes] = raw
    zipped = False
    if head == ZIP_MAGIC:
        inner = open_single_entry(raw, source=name, index=index, limits=limits)
        if inner is not None:
            stream, zipped = inner, True
        else:
            raw.seek(0)
    if store is not None:
        return store.put_stream(stream), zipped
    if zipped:  # inflated: at most max_inflated_in_memory_bytes stay in memory, the rest is spilled
        return read_capped(stream, limits.max_inflated_in_memory_bytes), zipped
    return BytesPayload(stream.read()), zipped


def _canonical_b64(text: bytes) -> bool:
    """True when re-encoding the decoded bytes gives ``text`` back (padding bits are zero)."""
    tail = text[-4:]
    return not tail or base64.b64encode(base64.b64decode(tail)) == tail


def parse_package(
    source: bytes | str | os.PathLike[str] | IO[bytes],
    *,
    source_name: str | None = None,
    store: PayloadStore | None = None,
    limits: XmlLimits | None = None,
    max_package_bytes: int = DEFAULT_MAX_PACKAGE_BYTES,
    check_schema: bool = True,
    input_limits: InputLimits | None = None,
) -> ParseResult:
    """Read an edXML package (document or status) leniently into the model.

    Attachments are streamed into ``store`` when given (constant memory), else held in memory.
    With ``check_schema`` the skeleton is also validated against the strict XSD profile and the
    departures are returned in :attr:`ParseResult.schema_issues` (they do not make it fail).
    ``input_limits`` are the budgets (element and attribute counts, attachment inflation);
    ``limits`` and ``max_package_bytes``, when given, override the XML and package sizes.
    """
    budget = input_limits or DEFAULT_INPUT_LIMITS
    lim = limits or budget.xml()
    if max_package_bytes == DEFAULT_MAX_PACKAGE_BYTES:
        max_package_bytes = budget.max_package_bytes
    if isinstance(source, (bytes, bytearray, memoryview)) and len(source) <= SMALL_PACKAGE:
        name = source_name or "<bytes>"
        spliced = splice_bytes(
            bytes(source), source=name, max_skeleton=lim.max_bytes, max_total=max_package_bytes,
            keep_encoded=store is None,
        )  # fmt: skip
    else:
        stream, name = _open_source(source, source_name)
        owns = stream is not source
        try:
            spliced = splice(
                stream, source=name, max_skeleton=lim.max_bytes, max_total=max_package_bytes, keep_encoded=store is None
            )
        finally:
            if owns:
                stream.close()
    try:
        root = parse_xml(spliced.skeleton, source=name, limits=lim)
        warnings: list[str] = []
        if spliced.stray_prefix:
            warnings.append(f"ignored {spliced.stray_prefix} stray bytes before the XML declaration")
        payload_of: dict[etree._Element, IO[bytes]] = {}  # the key keeps the lxml proxy alive
        for el in root.iter(f"{{{NS}}}ContentTransferEncoded", "ContentTransferEncoded"):
            idx = str(el.attrib.pop(PAYLOAD_ATTR, ""))
            if el.text and el.text.strip():
                continue  # CDATA or entity-wrapped text stayed in the tree: decode it from there
            if idx.isdigit() and int(idx) < len(spliced.payloads):
                payload_of[el] = spliced.payloads[int(idx)]
        _check_root(root, name)
        issues = schema_issues(root) if check_schema else []
        reader = f.Reader(name, root.getroottree(), warnings)
        header = reader.header(root)
        if header is None:
            raise EdxmlFormatError("no edXMLEnvelope/edXMLHeader/MessageHeader found", location=Location(name))
        package: Package
        if reader.is_status(header):
            package = reader.status_package(header, root)
        else:
            files: list[tuple[etree._Element, IO[bytes] | None]] = [
                (el, payload_of.get(enc) if enc is not None else None)
                for el, enc in reader.attachment_elements(root)
            ]
            attachments = _attachments(reader, root, files, store, name, budget)
            package = reader.edoc_package(header, root, tuple(attachments))
        if reader.issues:
            raise SchemaValidationError(
                f"not a usable edXML {'status' if reader.is_status(header) else 'document'} package",
                reader.issues,
                location=Location(name),
            )
        return ParseResult(package, tuple(warnings), tuple(issues))
    finally:
        spliced.close()


def _check_root(root: etree._Element, name: str) -> None:
    qname = etree.QName(root)
    if qname.localname != "edXML" and qname.localname != "Envelope":
        raise EdxmlFormatError(
            f"root element is <{qname.localname}>, expected <edXML> in namespace {NS}",
            location=Location(name, line=source_line(root)),
        )
    if qname.namespace == LEGACY_NS or qname.localname == "Envelope":
        raise EdxmlFormatError(
            "this is a pre-QCVN (2011, e-doc.vn) package; translate it with the edxml_2011 adapter",
            location=Location(name, line=source_line(root)),
        )
    if qname.namespace != NS:
        raise EdxmlFormatError(
            f"root element is in namespace {qname.namespace or '(none)'}, expected {NS}",
            location=Location(name, line=source_line(root)),
        )


def _attachments(
    reader: f.Reader,
    root: etree._Element,
    files: list[tuple[etree._Element, IO[bytes] | None]],
    store: PayloadStore | None,
    name: str,
    budget: InputLimits = DEFAULT_INPUT_LIMITS,
) -> list[Attachment]:
    """Merge manifest References with encoded Attachments by ContentId (``cid:`` ignored)."""
    refs = reader.references(root)
    encoded: dict[str, tuple[etree._Element, IO[bytes] | None]] = {}
    for el, payload in files:
        cid = reader.content_id(el, "Attachment")
        if cid:
            encoded[cid] = (el, payload)
    result: list[Attachment] = []
    seen: set[str] = set()
    for ref in refs:
        cid = reader.content_id(ref, "Reference")
        if cid is None:
            continue
        seen.add(cid)
        if cid not in encoded:
            reader.issue(ref, f"manifest Reference {cid!r} has no AttachmentEncoded/Attachment with that ContentId")
            continue
        el, raw = encoded[cid]
        att = _one_attachment(reader, el, raw, ref, cid, store, name, len(result), budget)
        if att is not None:
            result.append(att)
    for cid, (el, raw) in encoded.items():
        if cid not in seen:
            reader.warnings.append(f"attachment {cid!r} is not listed in the manifest; accepted from its own fields")
            att = _one_attachment(reader, el, raw, None, cid, store, name, len(result), budget)
            if att is not None:
                result.append(att)
    return result


def _one_attachment(
    reader: f.Reader,
    el: etree._Element,
    raw: IO[bytes] | None,
    ref: etree._Element | None,
    cid: str,
    store: PayloadStore | None,
    name: str,
    index: int,
    budget: InputLimits = DEFAULT_INPUT_LIMITS,
) -> Attachment | None:
    encoded = store is None  # spliced text stays base64 on the in-memory path
    if raw is None:
        encoded = False
        raw = reader.inline_payload(el)
        if raw is None:
            reader.issue(el, f"attachment {cid!r} has no ContentTransferEncoded content")
            return None
    payload, zipped = _materialise(raw, store, name, index, encoded=encoded, limits=budget)
    src = ref if ref is not None else el
    file_name = reader.text(src, "AttachmentName") or reader.text(el, "AttachmentName")
    ctype = reader.text(src, "ContentType") or reader.text(el, "ContentType") or "application/octet-stream"
    if zipped and ctype == "application/zip" and file_name and file_name.lower().endswith(".pdf"):
        ctype = "application/pdf"
    if not file_name:
        reader.issue(src, "AttachmentName is required")
        return None
    description = reader.text(src, "Description") or reader.text(el, "Description")
    return Attachment(cid, file_name, ctype, payload, description, zipped)
