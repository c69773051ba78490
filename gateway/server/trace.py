"""Append this hub's TraceHeader to a package without re-serialising it.

Relays append one TraceHeader per hop and never remove any (shared/docs/edxml-qcvn102.md §1.2).
Re-building the package would normalise vendor quirks and re-encode attachments of hundreds of
megabytes, so the hop is spliced into the raw bytes instead: before the ``Bussiness``/``Business``
block if there is one, else before ``</TraceHeaderList>``; a status package without a
TraceHeaderList gets one right after its ``</MessageHeader>`` (or ``</Status>``), which the
status schema allows. The element prefix is the one the surrounding elements use, so the new
element lands in the edXML namespace whatever prefix the sender chose.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from xml.sax.saxutils import escape

from gateway.blobstore import BlobStore
from gateway.edxml import format_datetime
from gateway.errors import BlobStoreError, EdxmlFormatError

# The header region ends where the body or the attachments begin; never search inside base64.
_HEADER_END = re.compile(rb"<(?:[\w.\-]+:)?(?:edXMLBody|AttachmentEncoded)[\s>/]")
_TRACE_SELF_CLOSED = re.compile(rb"<(?P<p>(?:[\w.\-]+:)?)TraceHeaderList(?P<a>(?:\s[^<>]*?)?)/>")
_TRACE_CLOSE = re.compile(rb"</(?P<p>(?:[\w.\-]+:)?)TraceHeaderList\s*>")
_BUSINESS_OPEN = re.compile(rb"<(?P<p>(?:[\w.\-]+:)?)Bus{1,2}iness[\s>/]")
_HEADER_CLOSE = re.compile(rb"</(?P<p>(?:[\w.\-]+:)?)(?:MessageHeader|Status)\s*>")


def _hop(prefix: bytes, organ_id: str, when: datetime) -> bytes:
    p = prefix.decode("ascii")
    return (
        f"<{p}TraceHeader><{p}OrganId>{escape(organ_id)}</{p}OrganId>"
        f"<{p}Timestamp>{format_datetime(when)}</{p}Timestamp></{p}TraceHeader>\n"
    ).encode()


def append_trace(data: bytes, organ_id: str, when: datetime) -> bytes:
    """Return ``data`` with one more TraceHeader (``organ_id`` at local time ``when``)."""
    end_match = _HEADER_END.search(data)
    end = end_match.start() if end_match else len(data)
    head = data[:end]
    closed = _TRACE_CLOSE.search(head)
    if closed:
        business = _BUSINESS_OPEN.search(head, 0, closed.start())
        at = business.start() if business else closed.start()
        return data[:at] + _hop(closed.group("p"), organ_id, when) + data[at:]
    selfc = _TRACE_SELF_CLOSED.search(head)
    if selfc:
        p = selfc.group("p")
        block = b"<" + p + b"TraceHeaderList" + selfc.group("a") + b">\n" + _hop(p, organ_id, when)
        block += b"</" + p + b"TraceHeaderList>"
        return data[: selfc.start()] + block + data[selfc.end() :]
    header_close = _HEADER_CLOSE.search(head)
    if header_close is None:
        raise EdxmlFormatError("cannot append a trace header: no MessageHeader or TraceHeaderList found")
    p = header_close.group("p")
    block = b"\n<" + p + b"TraceHeaderList>\n" + _hop(p, organ_id, when) + b"</" + p + b"TraceHeaderList>"
    at = header_close.end()
    return data[:at] + block + data[at:]


def hop_recipe(organ_id: str, when: datetime) -> str:
    """The ledger's record of one appended hop (``messages.trace_hop``): enough to rebuild the bytes."""
    return json.dumps({"organ": organ_id, "at": when.isoformat(timespec="microseconds")}, separators=(",", ":"))


def apply_recipe(data: bytes, recipe: str) -> bytes:
    hop = json.loads(recipe)
    return append_trace(data, str(hop["organ"]), datetime.fromisoformat(str(hop["at"])))


def outbound_bytes(
    blobs: BlobStore, payload_sha256: str, source_sha256: str | None, trace_hop: str | None
) -> bytes:
    """The bytes a message delivers: its stored blob, or the original with its hop spliced in.

    A rebuilt copy must hash to ``payload_sha256`` (recorded at acceptance), so what is delivered
    is provably what was acknowledged; a mismatch raises :class:`BlobStoreError`.
    """
    if not trace_hop or not source_sha256:
        with blobs.open(payload_sha256) as fh:
            return fh.read()
    with blobs.open(source_sha256) as fh:
        data = apply_recipe(fh.read(), trace_hop)
    if hashlib.sha256(data).hexdigest() != payload_sha256:
        raise BlobStoreError(
            f"the outbound copy rebuilt from blob {source_sha256} does not hash to {payload_sha256}"
        )
    return data


__all__ = ["append_trace", "apply_recipe", "hop_recipe", "outbound_bytes"]
