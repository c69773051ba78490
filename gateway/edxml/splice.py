"""Split an edXML stream into a small XML skeleton and its base64 attachment payloads.

A package can carry hundreds of megabytes of base64 inside ``ContentTransferEncoded``. Building
an lxml tree with that text would hold it all in memory, so this module scans the raw bytes,
hands the text of every ``ContentTransferEncoded`` element to an incremental base64 decoder that
writes into a spooled temporary file, and keeps everything else (the skeleton, a few KB) for the
hardened tree parser. Newlines inside removed text are kept (as comments, see ``_Newlines``) so
the skeleton's line numbers are the file's line numbers. Anything the scanner does not
recognise (CDATA, entities) is left in the skeleton and decoded from the tree later, so the
scanner never decides what is valid XML.
"""

from __future__ import annotations

import binascii
import io
import re
import tempfile
from dataclasses import dataclass, field
from typing import IO

from gateway.errors import EdxmlFormatError, Location, XmlLimitError, XmlSyntaxError

_CHUNK = 1 << 20
_SPOOL = 4 << 20
_START = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?ContentTransferEncoded(?:\s[^<>]*)?>")
_TAIL = 256  # bytes kept between chunks so a start tag split across chunks is still found
_WS = b" \t\r\n"
PAYLOAD_ATTR = "lienthong-payload"
"""Attribute added to each spliced element in the skeleton: the index of its payload."""


_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


class Base64Sink:
    """Incremental base64 decoder writing into a spooled temporary file.

    With ``keep_encoded`` it only validates (alphabet, length, padding) and keeps the text
    itself: small attachments are then decoded lazily (see ``Base64Payload``).
    """

    def __init__(self, source: str, index: int, *, keep_encoded: bool = False, in_memory: bool = False):
        self.source = source
        self.index = index
        self.keep_encoded = keep_encoded
        # ``in_memory``: the whole package is already in memory and small, so a spooled file
        # (which would stay in memory anyway below _SPOOL) is only overhead.
        self.file: IO[bytes] = io.BytesIO() if in_memory else tempfile.SpooledTemporaryFile(max_size=_SPOOL)  # noqa: SIM115
        self._pending = b""
        self._padded = False

    def write(self, chunk: bytes) -> None:
        if b"\n" in chunk or b" " in chunk or b"\r" in chunk or b"\t" in chunk:  # memchr scans: cheap
            chunk = chunk.translate(None, _WS)
        data = self._pending + chunk if self._pending else chunk
        usable = len(data) - len(data) % 4
        if usable == len(data):  # the usual case: no copy
            self._pending = b""
            if usable:
                self._decode(data)
            return
        self._pending = data[usable:]
        if usable:
            self._decode(data[:usable])

    def _decode(self, data: bytes) -> None:
        if self.keep_encoded:
            if self._padded or data.translate(None, _B64_ALPHABET) or data.find(b"=", 0, max(len(data) - 2, 0)) >= 0:
                raise XmlSyntaxError(
                    f"attachment {self.index + 1}: ContentTransferEncoded is not valid base64",
                    location=Location(self.source),
                )
            self._padded = data.endswith(b"=")
            self.file.write(data)
            return
        try:
            self.file.write(binascii.a2b_base64(data, strict_mode=True))
        except binascii.Error as exc:
            raise XmlSyntaxError(
                f"attachment {self.index + 1}: ContentTransferEncoded is not valid base64 ({exc})",
                location=Location(self.source),
            ) from exc

    def finish(self) -> IO[bytes]:
        if self._pending:
            raise XmlSyntaxError(
                f"attachment {self.index + 1}: base64 text length is not a multiple of 4 (truncated?)",
                location=Location(self.source),
            )
        self.file.seek(0)
        return self.file


class _Newlines:
    """Keeps the newlines of streamed text in the skeleton as a run of comments.

    As one text node (or as whitespace inside the start tag) the newlines of 76-column base64
    pass libxml2's 10,000,000-character ceiling at ~770 MB; comments of at most
    :data:`_LINES_PER_COMMENT` newlines each keep every node small, and line numbers exact.
    """

    def __init__(self, out: bytearray):
        self.out = out
        self.in_comment = 0

    def add(self, count: int) -> None:
        while count > 0:
            if not self.in_comment:
                self.out += b"<!--"
            take = min(count, _LINES_PER_COMMENT - self.in_comment)
            self.out += b"\n" * take
            self.in_comment += take
            count -= take
            if self.in_comment >= _LINES_PER_COMMENT:
                self.out += b"-->"
                self.in_comment = 0

    def close(self) -> None:
        if self.in_comment:
            self.out += b"-->"
            self.in_comment = 0


_LINES_PER_COMMENT = 1_000_000


@dataclass
class SplicedPackage:
    """The skeleton XML (attachment text removed) and the decoded payloads in document order."""

    skeleton: bytes
    payloads: list[IO[bytes]] = field(default_factory=list)
    stray_prefix: int = 0

    def close(self) -> None:
        for p in self.payloads:
            p.close()


_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_UTF8_NAMES = {b"utf-8", b"utf8", b"us-ascii", b"ascii"}


def check_encoding(head: bytes, source: str) -> None:
    """Refuse packages that are not UTF-8 (QCVN 102:2016 requires it), the same way everywhere.

    ``validate`` and the hub must agree: a UTF-16 package used to pass ``validate`` and then be
    refused by the hub ("cannot append a trace header"), whose byte-level trace splice only
    works on UTF-8. Now both refuse it here, before any work, with this one message.
    """
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head[:4]:
        found = "UTF-16 or UTF-32"
    else:
        m = _DECLARED.match(head.removeprefix(b"\xef\xbb\xbf"))
        if m is None or m.group(1).lower() in _UTF8_NAMES:
            return
        found = m.group(1).decode("ascii")
    raise EdxmlFormatError(
        f"the package is encoded as {found}; edXML packages must be UTF-8 (QCVN 102:2016) — "
        "re-encode it as UTF-8 before sending",
        location=Location(source),
    )


def _strip_prefix(buf: bytes) -> tuple[bytes, int]:
    """Drop a BOM and any stray bytes before the first ``<`` (seen in the SDK's own sample)."""
    if buf.startswith(b"\xef\xbb\xbf"):
        buf = buf[3:]
    start = buf.find(b"<")
    if start <= 0:
        return buf, 0
    return buf[start:], start


def splice(
    stream: IO[bytes], *, source: str, max_skeleton: int, max_total: int, keep_encoded: bool = False
) -> SplicedPackage:
    """Read ``stream`` once, returning the skeleton and the attachment payloads.

    Payloads are decoded bytes, or with ``keep_encoded`` validated base64 text.
    """
    out = bytearray()
    result = SplicedPackage(b"")
    sink: Base64Sink | None = None
    lines = _Newlines(out)
    buf = b""
    total = 0
    first = True
    try:
        while True:
            chunk = stream.read(_CHUNK)
            total += len(chunk)
            if total > max_total:
                raise XmlLimitError(
                    f"package larger than {max_total} bytes (max_package_bytes)", location=Location(source)
                )
            eof = not chunk
            buf += chunk
            if first and (len(buf) >= 4096 or eof):
                check_encoding(buf[:4096], source)
                buf, result.stray_prefix = _strip_prefix(buf)
                first = False
            elif first:
                continue
            while True:
                if sink is not None:
                    end = buf.find(b"<")
                    if end < 0:
                        sink.write(buf)
                        lines.add(buf.count(b"\n"))
                        buf = b""
                        break
                    sink.write(buf[:end])
                    lines.add(buf.count(b"\n", 0, end))
                    lines.close()
                    result.payloads.append(sink.finish())
                    sink = None
                    buf = buf[end:]
                    continue
                m = _START.search(buf)
                if m is None:
                    keep = 0 if eof else min(len(buf), _TAIL)
                    out += buf[: len(buf) - keep]
                    buf = buf[len(buf) - keep :]
                    break
                tag = m.group()
                if tag.endswith(b"/>"):  # empty element: nothing to stream
                    out += buf[: m.end()]
                    buf = buf[m.end() :]
                    continue
                # Mark the element with its payload index; the parser pops the attribute again.
                out += buf[: m.end() - 1] + b' %s="%d">' % (PAYLOAD_ATTR.encode(), len(result.payloads))
                lines = _Newlines(out)
                buf = buf[m.end() :]
                sink = Base64Sink(source, len(result.payloads), keep_encoded=keep_encoded)
            if len(out) > max_skeleton:
                raise XmlLimitError(
                    f"package header and manifest exceed {max_skeleton} bytes (max_bytes)",
                    location=Location(source),
                )
            if eof:
                break
        if sink is not None:
            # Unterminated attachment text: keep what we have; the tree parser reports truncation.
            sink.file.close()
        result.skeleton = bytes(out)
        return result
    except BaseException:
        result.close()
        if sink is not None:
            sink.file.close()
        raise


SMALL_PACKAGE = _CHUNK
"""Packages up to this size (bytes already in memory) may use :func:`splice_bytes`."""


def splice_bytes(
    data: bytes, *, source: str, max_skeleton: int, max_total: int, keep_encoded: bool = False
) -> SplicedPackage:
    """:func:`splice` for a package already in memory and at most :data:`SMALL_PACKAGE` bytes.

    The same skeleton, payloads and errors as :func:`splice` (which reads such a package in one
    chunk anyway), without the chunk bookkeeping and buffer copies: the package is scanned in
    place with ``search(data, pos)``. This is the reader's hot path for ~50 KB packages.
    """
    if len(data) > SMALL_PACKAGE:
        raise ValueError("splice_bytes is for packages of at most SMALL_PACKAGE bytes; use splice")
    if len(data) > max_total:
        raise XmlLimitError(f"package larger than {max_total} bytes (max_package_bytes)", location=Location(source))
    result = SplicedPackage(b"")
    check_encoding(data[:4096], source)
    buf, result.stray_prefix = _strip_prefix(data)
    out = bytearray()
    pos = 0
    search = _START.search
    try:
        while True:
            m = search(buf, pos)
            if m is None:
                out += buf[pos:]
                break
            end_tag = m.end()
            if buf[end_tag - 2 : end_tag] == b"/>":  # empty element: nothing to stream
                out += buf[pos:end_tag]
                pos = end_tag
                continue
            out += buf[pos : end_tag - 1]
            out += b' %s="%d">' % (_PAYLOAD_ATTR_BYTES, len(result.payloads))
            sink = Base64Sink(source, len(result.payloads), keep_encoded=keep_encoded, in_memory=True)
            end = buf.find(b"<", end_tag)
            lines = _Newlines(out)
            if end < 0:
                # Unterminated attachment text: keep what we have; the tree parser reports truncation.
                try:
                    sink.write(buf[end_tag:])
                    lines.add(buf.count(b"\n", end_tag))
                finally:
                    sink.file.close()
                break
            try:
                sink.write(buf[end_tag:end])
                result.payloads.append(sink.finish())
            except BaseException:
                sink.file.close()
                raise
            lines.add(buf.count(b"\n", end_tag, end))
            lines.close()
            pos = end
        if len(out) > max_skeleton:
            raise XmlLimitError(
                f"package header and manifest exceed {max_skeleton} bytes (max_bytes)",
                location=Location(source),
            )
        result.skeleton = bytes(out)
        return result
    except BaseException:
        result.close()
        raise


_PAYLOAD_ATTR_BYTES = PAYLOAD_ATTR.encode()
