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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields

from gateway.signing.geometry import PageFrame, normalise_rotation
from gateway.signing.pdf_fonts import SimpleFontMetrics, font_metrics

Rect = tuple[float, float, float, float]
Matrix = tuple[float, float, float, float, float, float]
_IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


@dataclass(frozen=True)
class Anchor:
    """A page (0-based) and a rectangle in default user space (points, origin bottom-left)."""

    page: int
    rect: Rect
    #: the placeholder text's own box when the anchor was found from it (the appearance covers it)
    placeholder: Rect | None = None


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


def _inherited(node: Any, key: str) -> Any:
    """A page attribute that may be inherited from the page tree (MediaBox, CropBox, Rotate, Resources)."""
    depth = 0
    while node is not None and depth < 64:
        if key in node:
            return node[key]
        parent = node.get("/Parent")
        node = parent.get_object() if parent is not None else None
        depth += 1
    return None


def _box(value: Any) -> Rect | None:
    try:
        x0, y0, x1, y1 = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def page_box(reader: PdfFileReader, page: int) -> Rect:
    """The visible box: the CropBox clipped to the MediaBox (both inherited), else the MediaBox."""
    node: Any = _page_ref(reader, page).get_object()  # type: ignore[no-untyped-call]
    media = _box(_inherited(node, "/MediaBox")) or (0.0, 0.0, 595.276, 841.89)
    crop = _box(_inherited(node, "/CropBox"))
    if crop is None:
        return media
    clipped = (max(crop[0], media[0]), max(crop[1], media[1]), min(crop[2], media[2]), min(crop[3], media[3]))
    return clipped if clipped[2] > clipped[0] and clipped[3] > clipped[1] else media


def page_frame(reader: PdfFileReader, page: int) -> PageFrame:
    """The page as the reader sees it: visible box and clockwise ``/Rotate``."""
    node: Any = _page_ref(reader, page).get_object()  # type: ignore[no-untyped-call]
    rotate = _inherited(node, "/Rotate")
    return PageFrame(page_box(reader, page), normalise_rotation(float(rotate)) if rotate is not None else 0)


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


@dataclass
class _TextState:
    font: SimpleFontMetrics
    size: float = 12.0
    char_spacing: float = 0.0
    word_spacing: float = 0.0
    scaling: float = 1.0
    rise: float = 0.0
    leading: float = 0.0

    def advance(self, code: int) -> float:
        """Horizontal displacement (text space) after showing one single-byte glyph."""
        w = self.font.width(code) / 1000 * self.size + self.char_spacing
        if code == 32:
            w += self.word_spacing
        return w * self.scaling


def _show(
    state: _TextState, pieces: list[object], needle: bytes, m: Matrix
) -> tuple[Rect | None, float]:
    """Look for ``needle`` in one text-showing operation; returns (its user-space box, advance)."""
    codes: list[int] = []
    starts: list[float] = []
    x = 0.0
    for piece in pieces:
        if isinstance(piece, float):
            x -= piece / 1000 * state.size * state.scaling
        elif isinstance(piece, bytes):
            for code in piece:
                codes.append(code)
                starts.append(x)
                x += state.advance(code)
    at = bytes(codes).find(needle)
    if at < 0:
        return None, x
    end = at + len(needle) - 1
    x0, x1 = starts[at], starts[end] + state.advance(codes[end]) - state.char_spacing * state.scaling
    y0 = state.rise + state.font.descent / 1000 * state.size
    y1 = state.rise + state.font.ascent / 1000 * state.size
    corners = [_apply(m, px, py) for px in (x0, x1) for py in (y0, y1)]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    return (min(xs), min(ys), max(xs), max(ys)), x


def _apply(m: Matrix, x: float, y: float) -> tuple[float, float]:
    return (m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5])


def _find_in_stream(data: bytes, needle: bytes, fonts: Callable[[str], SimpleFontMetrics]) -> Rect | None:
    """The user-space box of the first ``needle`` drawn by ``data``, following the text state."""
    ctm, stack = _IDENTITY, []
    tm = lm = _IDENTITY
    state = _TextState(fonts(""))
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
            state.size = nums[-1]
            names = [v for v in operands if isinstance(v, str) and v.startswith("/")]
            state.font = fonts(names[-1] if names else "")
        elif op == "TL" and nums:
            state.leading = nums[-1]
        elif op == "Tc" and nums:
            state.char_spacing = nums[-1]
        elif op == "Tw" and nums:
            state.word_spacing = nums[-1]
        elif op == "Tz" and nums:
            state.scaling = nums[-1] / 100
        elif op == "Ts" and nums:
            state.rise = nums[-1]
        elif op in ("Td", "TD") and len(nums) >= 2:
            lm = tm = _mul((1, 0, 0, 1, nums[-2], nums[-1]), lm)
            if op == "TD":
                state.leading = -nums[-1]
        elif op == "Tm" and len(nums) >= 6:
            lm = tm = tuple(nums[-6:])  # type: ignore[assignment]
        elif op in ("T*", "'", '"'):
            if op == '"' and len(nums) >= 2:
                state.word_spacing, state.char_spacing = nums[-2], nums[-1]
            lm = tm = _mul((1, 0, 0, 1, 0, -state.leading), lm)
        if op in ("Tj", "TJ", "'", '"'):
            shown = operands[-1] if operands else b""
            pieces = shown if isinstance(shown, list) else [shown]
            rect, advance = _show(state, pieces, needle, _mul(tm, ctm))
            if rect is not None:
                return rect
            tm = _mul((1, 0, 0, 1, advance, 0), tm)
        operands = []
    return None


def _font_lookup(reader: PdfFileReader, page: int) -> Callable[[str], SimpleFontMetrics]:
    node: Any = _page_ref(reader, page).get_object()  # type: ignore[no-untyped-call]
    resources = _inherited(node, "/Resources")
    fonts_dict: Any = None
    if resources is not None:
        fonts_dict = resources.get_object().get("/Font")
        fonts_dict = fonts_dict.get_object() if fonts_dict is not None else None
    cache: dict[str, SimpleFontMetrics] = {}

    def lookup(name: str) -> SimpleFontMetrics:
        if name not in cache:
            font = fonts_dict.get(name) if fonts_dict is not None and name else None
            cache[name] = font_metrics(font.get_object() if font is not None else None)
        return cache[name]

    return lookup


def find_placeholder(reader: PdfFileReader, text: str) -> Anchor | None:
    """The first page and box where ``text`` is drawn, or ``None`` (see module notes on limits).

    The box is the text's own extent (real glyph widths, font ascent to descent), in user space,
    so the signer's appearance can cover exactly the placeholder (``Anchor.placeholder``).
    """
    try:
        needle = text.encode("cp1252")
    except UnicodeEncodeError:
        needle = text.encode("latin-1", errors="replace")
    for page in range(page_count(reader)):
        rect = _find_in_stream(_content_bytes(reader, page), needle, _font_lookup(reader, page))
        if rect is not None:
            return Anchor(page, rect, placeholder=rect)
    return None


def find_placeholder_rendered(pdf: bytes, text: str) -> Anchor | None:
    """Fallback search with pdfium's text extraction, for what :func:`find_placeholder` cannot
    read: CID/Identity-H fonts (Word's export of Vietnamese text), text inside form XObjects.

    pdfium's character boxes are tight glyph boxes in user space; the box is widened by a fifth
    of the text height on every side so the cover also hides anti-aliasing and side bearings.
    Slower than the tokenizer (the whole document is loaded), so only used when it found nothing.
    """
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(pdf)
    except pdfium.PdfiumError:
        return None
    try:
        for index in range(len(doc)):
            textpage = doc[index].get_textpage()
            found = textpage.search(text, match_case=True).get_next()
            if not found:
                continue
            start, n = found
            boxes = [textpage.get_charbox(i) for i in range(start, start + n)]
            x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
            x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
            pad = min(x1 - x0, y1 - y0) / 5
            rect = (x0 - pad, y0 - pad, x1 + pad, y1 + pad)
            return Anchor(index, rect, placeholder=rect)
    finally:
        doc.close()
    return None
