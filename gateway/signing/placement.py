"""Where a visible signature goes: page boxes, existing signature widgets, placeholder text.

The caller can give a page and an anchor rectangle. Otherwise the anchor is found in the PDF:

* the rectangle of an existing signature widget (the agency seal goes over the signer's image);
* a placeholder text the drafting template left on the page (for example ``[[CHU_KY]]``).

Placeholder search reads the page content streams with a small tokenizer that follows the text
and transformation matrices. It finds text drawn as literal or hex strings in single-byte
encodings (what word processors' "Times New Roman" output and our templates use); text in
CID fonts is not decoded, so for such templates give the rectangle or pre-place an empty
signature field instead (documented in docs/signing.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields

Rect = tuple[float, float, float, float]
Matrix = tuple[float, float, float, float, float, float]
_IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


@dataclass(frozen=True)
class Anchor:
    """A page (0-based) and a rectangle in default user space (points, origin bottom-left)."""

    page: int
    rect: Rect


@dataclass(frozen=True)
class SignatureWidget:
    """A signature field's widget: name, page, rectangle and whether it already holds a value."""

    field_name: str
    page: int | None
    rect: Rect
    signed: bool


def _page_ref(reader: PdfFileReader, page: int) -> generic.IndirectObject:
    ref: generic.IndirectObject = reader.find_page_for_modification(page)[0]  # type: ignore[no-untyped-call]
    return ref


def page_count(reader: PdfFileReader) -> int:
    return int(reader.root["/Pages"]["/Count"])


def page_box(reader: PdfFileReader, page: int) -> Rect:
    """The page's CropBox (or MediaBox), following inheritance."""
    node: Any = _page_ref(reader, page).get_object()  # type: ignore[no-untyped-call]
    while node is not None:
        for key in ("/CropBox", "/MediaBox"):
            if key in node:
                x0, y0, x1, y1 = (float(v) for v in node[key])
                return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        node = node.get("/Parent")
        node = node.get_object() if node is not None else None
    return (0.0, 0.0, 595.276, 841.89)


def signature_widgets(reader: PdfFileReader) -> list[SignatureWidget]:
    """Every signature field with a visible widget, in document order."""
    pages = {_page_ref(reader, i).idnum: i for i in range(page_count(reader))}
    out: list[SignatureWidget] = []
    for name, value, field_ref in enumerate_sig_fields(reader, filled_status=None):
        widget = field_ref.get_object()
        if "/Rect" not in widget and "/Kids" in widget:
            widget = widget["/Kids"][0].get_object()
        if "/Rect" not in widget:
            continue
        x0, y0, x1, y1 = (float(v) for v in widget["/Rect"])
        if x1 - x0 <= 0 or y1 - y0 <= 0:
            continue  # invisible signature
        page_ref = widget.get_value_as_reference("/P", optional=True)
        page = pages.get(page_ref.idnum) if page_ref is not None else None
        out.append(SignatureWidget(name, page, (x0, y0, x1, y1), value is not None))
    return out


_TOKEN = re.compile(
    rb"(?P<ws>\s+|%[^\r\n]*)"
    rb"|(?P<str>\()"
    rb"|(?P<hex><[0-9A-Fa-f\s]*>)"
    rb"|(?P<dict><<|>>)"
    rb"|(?P<arr>[\[\]])"
    rb"|(?P<name>/[^\s/\[\]()<>{}%]*)"
    rb"|(?P<num>[+-]?(?:\d+\.?\d*|\.\d+))"
    rb"|(?P<op>[A-Za-z'\"*]+[0-9A-Za-z*]*|[{}])"
)
_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("f"): 12}


def _literal(data: bytes, pos: int) -> tuple[bytes, int]:
    """Read a literal string starting after its ``(``; returns (bytes, position after ``)``)."""
    out = bytearray()
    depth = 1
    while pos < len(data):
        c = data[pos]
        pos += 1
        if c == 0x5C and pos < len(data):  # backslash
            e = data[pos]
            pos += 1
            if 0x30 <= e <= 0x37:
                digits = bytes([e])
                while len(digits) < 3 and pos < len(data) and 0x30 <= data[pos] <= 0x37:
                    digits += bytes([data[pos]])
                    pos += 1
                out.append(int(digits, 8) & 0xFF)
            elif e in (0x0A, 0x0D):
                continue
            else:
                out.append(_ESCAPES.get(e, e))
        elif c == 0x28:
            depth += 1
            out.append(c)
        elif c == 0x29:
            depth -= 1
            if depth == 0:
                break
            out.append(c)
        else:
            out.append(c)
    return bytes(out), pos


def _tokens(data: bytes) -> Iterator[tuple[str, object]]:
    pos = 0
    while pos < len(data):
        m = _TOKEN.match(data, pos)
        if m is None:
            pos += 1
            continue
        kind = m.lastgroup or "ws"
        pos = m.end()
        if kind == "ws":
            continue
        if kind == "str":
            value, pos = _literal(data, pos)
            yield "str", value
        elif kind == "hex":
            digits = re.sub(rb"\s", b"", m.group()[1:-1])
            yield "str", bytes.fromhex((digits + b"0" * (len(digits) % 2)).decode())
        elif kind == "num":
            yield "num", float(m.group())
        else:
            yield kind, m.group().decode("latin-1")


def _mul(a: Matrix, b: Matrix) -> Matrix:
    return (
        a[0] * b[0] + a[1] * b[2],
        a[0] * b[1] + a[1] * b[3],
        a[2] * b[0] + a[3] * b[2],
        a[2] * b[1] + a[3] * b[3],
        a[4] * b[0] + a[5] * b[2] + b[4],
        a[4] * b[1] + a[5] * b[3] + b[5],
    )


def _content_bytes(reader: PdfFileReader, page: int) -> bytes:
    page_obj: Any = _page_ref(reader, page).get_object()  # type: ignore[no-untyped-call]
    contents = page_obj.get("/Contents")
    if contents is None:
        return b""
    contents = contents.get_object()
    streams = contents if isinstance(contents, generic.ArrayObject) else [contents]
    return b"\n".join(s.get_object().data for s in streams)


def _find_in_stream(data: bytes, needle: bytes) -> Rect | None:
    ctm, stack = _IDENTITY, []
    tm = lm = _IDENTITY
    size, leading = 12.0, 0.0
    operands: list[object] = []
    array: list[object] | None = None
    for kind, value in _tokens(data):
        if kind == "arr":
            if value == "[":
                array = []
            else:
                operands.append(array or [])
                array = None
            continue
        if array is not None:
            array.append(value)
            continue
        if kind != "op":
            operands.append(value)
            continue
        nums = [float(v) for v in operands if isinstance(v, float)]
        op = value
        if op == "q":
            stack.append(ctm)
        elif op == "Q" and stack:
            ctm = stack.pop()
        elif op == "cm" and len(nums) >= 6:
            ctm = _mul(tuple(nums[-6:]), ctm)  # type: ignore[arg-type]
        elif op == "BT":
            tm = lm = _IDENTITY
        elif op == "Tf" and nums:
            size = nums[-1]
        elif op == "TL" and nums:
            leading = nums[-1]
        elif op in ("Td", "TD") and len(nums) >= 2:
            lm = tm = _mul((1, 0, 0, 1, nums[-2], nums[-1]), lm)
            if op == "TD":
                leading = -nums[-1]
        elif op == "Tm" and len(nums) >= 6:
            lm = tm = tuple(nums[-6:])  # type: ignore[assignment]
        elif op in ("T*", "'", '"'):
            lm = tm = _mul((1, 0, 0, 1, 0, -leading), lm)
        if op in ("Tj", "TJ", "'", '"'):
            pieces = operands[-1] if operands else b""
            text = b"".join(p for p in (pieces if isinstance(pieces, list) else [pieces]) if isinstance(p, bytes))
            at = text.find(needle)
            if at >= 0:
                m = _mul(tm, ctm)
                scale = (m[0] ** 2 + m[1] ** 2) ** 0.5 or 1.0
                em = size * scale
                x = m[4] + at * 0.5 * em
                return (x, m[5] - 0.25 * em, x + len(needle) * 0.5 * em, m[5] + 0.85 * em)
        operands = []
    return None


def find_placeholder(reader: PdfFileReader, text: str) -> Anchor | None:
    """The first page and box where ``text`` is drawn, or ``None`` (see module notes on limits)."""
    try:
        needle = text.encode("cp1252")
    except UnicodeEncodeError:
        needle = text.encode("latin-1", errors="replace")
    for page in range(page_count(reader)):
        rect = _find_in_stream(_content_bytes(reader, page), needle)
        if rect is not None:
            return Anchor(page, rect)
    return None
