"""MIME multipart/related containers: the SOAP-with-attachments form of edXML 2011.

The root part is the SOAP envelope; every other part is a file referenced from the manifest by
``cid:<Content-ID>``.  Splitting uses the standard library's email parser on bytes (no XML is
parsed here; the envelope goes through the hardened parser like every other input).
"""

from __future__ import annotations

import email
import email.parser
import email.policy
import uuid
from collections.abc import Mapping
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart

from gateway.errors import Location, XmlSyntaxError
from gateway.limits import check


def split_related(
    data: bytes, *, source: str | None = None, max_parts: int = 1_000
) -> tuple[bytes, dict[str, bytes]]:
    """Return (root part bytes, {content-id: bytes}) of a multipart/related message.

    Bytes that do not look like MIME (they start with ``<``) are returned as the root with no parts.
    The parts are counted from the boundary (headers parsed alone) before the message is parsed,
    so a message of a million empty parts is refused (``max_mime_parts``) without building them.
    """
    if data.lstrip()[:1] == b"<":
        return data, {}
    head = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(data)
    boundary = head.get_boundary()
    if boundary:
        count = data.count(b"--" + boundary.encode("utf-8", "replace")) - 1
        check("number of MIME parts", count, "max_mime_parts", max_parts, source=source)
    msg = email.message_from_bytes(data, policy=email.policy.default)
    if not msg.is_multipart():
        raise XmlSyntaxError("expected a multipart/related MIME message or an XML envelope", location=Location(source))
    start = (msg.get_param("start") or "").strip("<>")  # type: ignore[union-attr]
    root: bytes | None = None
    parts: dict[str, bytes] = {}
    for part in msg.iter_parts():
        assert isinstance(part, EmailMessage)
        cid = str(part.get("Content-ID", "")).strip().strip("<>")
        payload = part.get_payload(decode=True)
        body = payload if isinstance(payload, bytes) else b""
        if root is None and (cid == start if start else True):
            root = body
            continue
        if cid:
            parts[cid] = body
    if root is None:
        raise XmlSyntaxError("the MIME message has no root part", location=Location(source))
    return root, parts


def build_related(root: bytes, parts: Mapping[str, bytes]) -> bytes:
    """Assemble a multipart/related message: the envelope first, then one part per file."""
    outer = MIMEMultipart("related", type="text/xml", start="<envelope@lienthong>")
    envelope = MIMEApplication(root, "xml", _encoder=_binary)
    envelope.replace_header("Content-Type", 'text/xml; charset="utf-8"')
    envelope["Content-ID"] = "<envelope@lienthong>"
    outer.attach(envelope)
    for cid, content in parts.items():
        part = MIMEApplication(content, "octet-stream")
        part["Content-ID"] = f"<{cid}>"
        outer.attach(part)
    outer.set_boundary(f"==lienthong-{uuid.uuid5(uuid.NAMESPACE_URL, str(sorted(parts))).hex}")
    return outer.as_bytes()


def _binary(msg: MIMEApplication) -> None:
    msg["Content-Transfer-Encoding"] = "8bit"


__all__ = ["build_related", "split_related"]
