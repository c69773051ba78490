"""Does the final file *look* like what was signed? Pixel comparison of each signed revision.

Structural analysis (:mod:`gateway.signing.revisions`) says what objects later revisions changed;
this module checks what a reader actually sees. Each signed revision and the final file are
rendered with PDFium (pypdfium2, forms initialised so widgets draw) at a modest resolution, and
the pixels are compared page by page **outside** the rectangles of signatures added later (their
own widgets are allowed to draw there). Inside those rectangles a later signature may add ink but
must not *erase* it: a new widget that turns the signed revision's ink into background (a white
box, an opaque cover) is reported too, so "a second signer who paints over the first" is caught
while a transparent seal over the signer's image is not.

Rendering costs ~6 ms per A4 page at scale 1; the default scale (0.75, 54 dpi) still shows a
changed 10 pt character as a cluster of differing pixels. ``diff_png`` writes a picture of the
differences (red) over the final page, for a human to look at.

The same renderer reads the visible text of a signature's stamp (its widget flattened into the
page, then PDFium's text layer inside the widget rectangle), used to check the stamped time and
number/notation against the signature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageChops, ImageDraw

Rect = tuple[float, float, float, float]

DEFAULT_SCALE = 0.75
#: grey-level difference (0-255) below which two pixels count as equal (anti-aliasing noise)
PIXEL_THRESHOLD = 48
#: smallest cluster of differing pixels reported (at the render scale)
MIN_PIXELS = 4
#: a later signature may cover at most this share of the earlier ink under its own rectangle
MAX_ERASED_SHARE = 0.35
INK, BACKGROUND = 128, 200


@dataclass(frozen=True)
class VisualDifference:
    """A visible change on ``page`` (1-based) inside ``area`` (PDF points, bottom-left origin)."""

    page: int
    area: Rect
    pixels: int
    kind: str = "outside later signatures"  # or "hidden under signature 'X'"

    def describe(self) -> str:
        x0, y0, x1, y1 = (round(v) for v in self.area)
        return f"page {self.page}, area {x0},{y0}-{x1},{y1} pt ({self.pixels} px at render scale): {self.kind}"

    def to_dict(self) -> dict[str, object]:
        return {"page": self.page, "area": list(self.area), "pixels": self.pixels, "kind": self.kind}


@dataclass(frozen=True)
class PageGeometry:
    """How PDF user space maps to the rendered bitmap: crop box, rotation and scale."""

    crop: Rect
    rotation: int
    scale: float

    def to_pixels(self, rect: Rect) -> tuple[int, int, int, int]:
        pts = [self._px(x, y) for x in (rect[0], rect[2]) for y in (rect[1], rect[3])]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        return (int(min(xs)) - 1, int(min(ys)) - 1, int(max(xs)) + 2, int(max(ys)) + 2)

    def _px(self, x: float, y: float) -> tuple[float, float]:
        w, h = self.crop[2] - self.crop[0], self.crop[3] - self.crop[1]
        u, v = x - self.crop[0], self.crop[3] - y
        rot = self.rotation % 360
        if rot == 90:
            u, v = h - v, u
        elif rot == 180:
            u, v = w - u, h - v
        elif rot == 270:
            u, v = v, w - u
        return (u * self.scale, v * self.scale)

    def to_points(self, box: tuple[int, int, int, int]) -> Rect:
        w, h = self.crop[2] - self.crop[0], self.crop[3] - self.crop[1]
        corners = []
        for px, py in ((box[0], box[1]), (box[2], box[3])):
            u, v = px / self.scale, py / self.scale
            rot = self.rotation % 360
            if rot == 90:
                u, v = v, h - u
            elif rot == 180:
                u, v = w - u, h - v
            elif rot == 270:
                u, v = w - v, u
            corners.append((self.crop[0] + u, self.crop[3] - v))
        (ax, ay), (bx, by) = corners
        return (min(ax, bx), min(ay, by), max(ax, bx), max(ay, by))


@dataclass
class Rendering:
    """The rendered pages of one revision (grey levels) and their geometry."""

    pages: list[Image.Image]
    geometry: list[PageGeometry]


def render(data: bytes, scale: float = DEFAULT_SCALE) -> Rendering:
    """Render every page of ``data`` in grey levels with form widgets drawn."""
    doc = pdfium.PdfDocument(data)
    try:
        doc.init_forms()
        pages: list[Image.Image] = []
        geometry: list[PageGeometry] = []
        for i in range(len(doc)):
            page = doc[i]
            try:
                crop = tuple(float(v) for v in page.get_cropbox())
                geometry.append(PageGeometry(crop=crop, rotation=int(page.get_rotation()), scale=scale))  # type: ignore[arg-type]
                bitmap = page.render(scale=scale, may_draw_forms=True, grayscale=True)
                pages.append(bitmap.to_pil().convert("L"))
            finally:
                page.close()
        return Rendering(pages, geometry)
    finally:
        doc.close()


def _mask(size: tuple[int, int], boxes: Sequence[tuple[int, int, int, int]], inside: bool) -> Image.Image:
    """255 where pixels are compared: outside ``boxes`` (or only inside them with ``inside``)."""
    mask = Image.new("L", size, 0 if inside else 255)
    draw = ImageDraw.Draw(mask)
    for box in boxes:
        draw.rectangle(box, fill=255 if inside else 0)
    return mask


def _count(img: Image.Image) -> int:
    return int(img.histogram()[255])


def compare(
    signed: Rendering,
    final: Rendering,
    later_rects: Mapping[int, Sequence[tuple[str, Rect]]],
) -> list[VisualDifference]:
    """Visible differences between a signed revision and the final file.

    ``later_rects`` maps a 0-based page to the (field name, rectangle) of every signature added
    after the signed revision; outside them any change counts, inside them only erased ink.
    """
    out: list[VisualDifference] = []
    if len(signed.pages) != len(final.pages):
        out.append(VisualDifference(0, (0, 0, 0, 0), 0, f"page count {len(signed.pages)} → {len(final.pages)}"))
    for i, (a, b) in enumerate(zip(signed.pages, final.pages, strict=False)):
        geo = final.geometry[i]
        if a.size != b.size:
            out.append(VisualDifference(i + 1, geo.crop, a.size[0] * a.size[1], "page size or rotation changed"))
            continue
        rects = later_rects.get(i, ())
        boxes = [geo.to_pixels(r) for _, r in rects]
        changed = ImageChops.difference(a, b).point(lambda v: 255 if v > PIXEL_THRESHOLD else 0)
        outside = ImageChops.multiply(changed, _mask(a.size, boxes, inside=False))
        n = _count(outside)
        bbox = outside.getbbox()
        if n >= MIN_PIXELS and bbox is not None:
            out.append(VisualDifference(i + 1, geo.to_points(bbox), n))
        for (name, _), box in zip(rects, boxes, strict=True):
            region = _mask(a.size, [box], inside=True)
            ink = ImageChops.multiply(a.point(lambda v: 255 if v < INK else 0), region)
            erased = ImageChops.multiply(ink, b.point(lambda v: 255 if v > BACKGROUND else 0))
            n_ink, n_erased = _count(ink), _count(erased)
            if n_erased >= MIN_PIXELS and n_erased > MAX_ERASED_SHARE * n_ink:
                area = erased.getbbox() or box
                kind = f"signed content hidden under signature {name!r} ({n_erased} of {n_ink} ink pixels erased)"
                out.append(VisualDifference(i + 1, geo.to_points(area), n_erased, kind))
    return out


def diff_png(signed: Rendering, final: Rendering, page: int, path: Path) -> Path:
    """Write the final ``page`` (1-based) in grey with differing pixels in red; returns ``path``."""
    a, b = signed.pages[page - 1], final.pages[page - 1]
    base = b.convert("RGB")
    if a.size == b.size:
        changed = ImageChops.difference(a, b).point(lambda v: 255 if v > PIXEL_THRESHOLD else 0)
        red = Image.new("RGB", b.size, (230, 0, 0))
        base = Image.composite(red, base, changed)
    path.parent.mkdir(parents=True, exist_ok=True)
    base.save(path, format="PNG")
    return path


def widget_texts(data: bytes, widgets: Sequence[tuple[str, int, Rect]]) -> dict[str, str]:
    """Visible text of each (field, 0-based page, rect) signature widget.

    The page is flattened (widgets merged into its content) and its text compared with the
    unflattened page's: the new lines are the widgets' text. PDFium reports flattened text in
    the form's own coordinates, so the text cannot be cut by rectangle; it is attributed only
    when the page has exactly one signature widget (the attachment and copy stamps).
    """
    per_page: dict[int, list[str]] = {}
    for name, page, _ in widgets:
        per_page.setdefault(page, []).append(name)
    wanted = {page: names[0] for page, names in per_page.items() if len(names) == 1}
    if not wanted:
        return {}
    doc = pdfium.PdfDocument(data)
    out: dict[str, str] = {}
    try:
        doc.init_forms()
        for index, name in wanted.items():
            if not 0 <= index < len(doc):
                continue
            page = doc[index]
            before = _page_lines(page)
            pdfium_c.FPDFPage_Flatten(page.raw, pdfium_c.FLAT_NORMALDISPLAY)
            page.close()
            page = doc[index]
            try:
                after = _page_lines(page)
            finally:
                page.close()
            for line in before:
                if line in after:
                    after.remove(line)
            out[name] = _clean(" ".join(after))
    finally:
        doc.close()
    return out


def _page_lines(page: Any) -> list[str]:
    textpage = page.get_textpage()
    try:
        return [line.strip() for line in str(textpage.get_text_range()).splitlines() if line.strip()]
    finally:
        textpage.close()


def _clean(text: Any) -> str:
    return " ".join(str(text).replace("\x00", "").split())
