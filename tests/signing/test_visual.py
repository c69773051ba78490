"""The pixel comparison of gateway/signing/visual.py on pages it must map correctly.

Real PDFs (written here byte by byte), really rendered with PDFium: a black square drawn at a known
place in user space must be found at the pixels ``PageGeometry.to_pixels`` names, and its pixels
mapped back by ``to_points`` must give the square again, on pages rotated by 0, 90, 180 and 270
degrees and with a crop box that does not start at the origin. A changed page count or page size
is reported as such, not as a pixel difference.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from gateway.signing import visual

SQUARE = (100.0, 500.0, 160.0, 560.0)  # user space, points


def _pdf(pages: list[tuple[str, int, bytes]]) -> bytes:
    """A PDF whose pages are (MediaBox, /Rotate, content stream); xref offsets computed exactly."""
    n = len(pages)
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Count %d /Kids [%s] >>" % (n, b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(n)))]
    for i, (box, rotate, content) in enumerate(pages):
        objs.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [%s] /Rotate %d /Contents %d 0 R >>"
                    % (box.encode(), rotate, 4 + 2 * i))
        objs.append(_stream(content))
    return _serialize(objs)


def _stream(content: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n%s\nendstream" % (len(content), extra, content)


def _serialize(objs: list[bytes]) -> bytes:
    """Objects 1..n (1 is the catalog) as a PDF with an exact cross-reference table."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def _square_page(rotate: int, box: str = "0 0 595 842") -> tuple[str, int, bytes]:
    x0, y0, x1, y1 = SQUARE
    return (box, rotate, b"0 g %g %g %g %g re f" % (x0, y0, x1 - x0, y1 - y0))


def _ink_bbox(page: Image.Image) -> tuple[int, int, int, int]:
    bbox = page.point(lambda v: 255 if v < visual.INK else 0).getbbox()
    assert bbox is not None, "nothing drawn"
    return bbox


@pytest.mark.parametrize("rotate", [0, 90, 180, 270, -90, 450])
@pytest.mark.parametrize("box", ["0 0 595 842", "20 40 615 882"])
def test_a_drawn_square_is_where_the_geometry_says_on_every_rotation(rotate: int, box: str) -> None:
    rendering = visual.render(_pdf([_square_page(rotate, box)]), scale=1.0)
    geo, page = rendering.geometry[0], rendering.pages[0]
    assert geo.rotation == rotate % 360 and geo.crop == tuple(float(v) for v in box.split())
    w, h = geo.crop[2] - geo.crop[0], geo.crop[3] - geo.crop[1]
    assert page.size == ((round(h), round(w)) if rotate % 180 else (round(w), round(h)))
    ink = _ink_bbox(page)
    expected = geo.to_pixels(SQUARE)  # padded by 1 px before and 2 px after
    assert expected[0] <= ink[0] <= expected[0] + 2 and expected[1] <= ink[1] <= expected[1] + 2
    assert expected[2] - 3 <= ink[2] <= expected[2] and expected[3] - 3 <= ink[3] <= expected[3]
    back = geo.to_points(ink)
    assert all(abs(a - b) <= 1.5 for a, b in zip(back, SQUARE, strict=True)), (back, SQUARE)


def test_the_geometry_maps_each_rotation_to_its_own_corner() -> None:
    # the square's pixel box differs per rotation (a mapping that ignored one would repeat another)
    boxes = {r: visual.PageGeometry((0.0, 0.0, 595.0, 842.0), r, 1.0).to_pixels(SQUARE) for r in (0, 90, 180, 270)}
    assert len(set(boxes.values())) == 4
    # unrotated: x as is, y from the top (842 - 560 = 282 ... 842 - 500 = 342), padded -1/+2
    assert boxes[0] == (99, 281, 162, 344)
    # upside down: x from the right (595 - 160 = 435 ... 495), y as is (500 ... 560)
    assert boxes[180] == (434, 499, 497, 562)


def test_a_changed_page_count_and_a_changed_page_size_are_named(tmp_path: Path) -> None:
    signed = visual.render(_pdf([_square_page(0), _square_page(0)]))
    fewer = visual.render(_pdf([_square_page(0)]))
    diffs = visual.compare(signed, fewer, {})
    assert [(d.page, d.kind) for d in diffs] == [(0, "page count 2 → 1")]
    rotated = visual.render(_pdf([_square_page(90), _square_page(0)]))
    diffs = visual.compare(signed, rotated, {})
    assert [(d.page, d.kind) for d in diffs] == [(1, "page size or rotation changed")]
    a = signed.pages[0]
    assert diffs[0].pixels == a.size[0] * a.size[1] and diffs[0].area == rotated.geometry[0].crop
    # the picture of a page whose size changed is the final page alone, in grey (nothing to mark)
    png = visual.diff_png(signed, rotated, 1, tmp_path / "out" / "p1.png")
    with Image.open(png) as img:
        assert img.size == rotated.pages[0].size and img.mode == "RGB"
        assert img.getpixel(_ink_bbox(rotated.pages[0])[:2]) == (0, 0, 0)


def test_widget_texts_skips_a_widget_on_a_page_the_file_does_not_have() -> None:
    data = _pdf([_square_page(0)])
    # one widget per page, so each would be attributed; the one on page index 3 cannot be read
    assert visual.widget_texts(data, [("Sig1", 3, SQUARE), ("Sig2", -1, SQUARE)]) == {}
    # two widgets on one page cannot be told apart: nothing is attributed, nothing is rendered
    assert visual.widget_texts(data, [("A", 0, SQUARE), ("B", 0, SQUARE)]) == {}
    # the page exists and has one widget (none drawn here): its text is empty, not missing
    assert visual.widget_texts(data, [("Sig1", 0, SQUARE)]) == {"Sig1": ""}


def _signed_page_pdf(widget_lines: list[bytes], *, draw_widget: bool = True) -> bytes:
    """One page with its own text line and one signature widget whose appearance shows ``widget_lines``.

    Objects: 1 catalog (with the AcroForm), 2 pages, 3 page, 4 page content, 5 font, 6 widget,
    7 its appearance stream. Helvetica is one of the standard fonts: no font file is needed.
    """
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    page_text = b"BT /F1 12 Tf 72 750 Td (Cong van so 12) Tj ET"
    shown = b"".join(b"0 %d Td (%s) Tj " % (-14 if i else 0, line) for i, line in enumerate(widget_lines))
    appearance = b"BT /F1 10 Tf 4 24 Td " + shown + b"ET"
    ap = b"/AP << /N 7 0 R >> " if draw_widget else b""
    return _serialize([
        b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [6 0 R] /SigFlags 3 >> >>",
        b"<< /Type /Pages /Count 1 /Kids [3 0 R] >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> /Annots [6 0 R] >>",
        _stream(page_text),
        font,
        b"<< /Type /Annot /Subtype /Widget /FT /Sig /T (Sig1) /F 4 /P 3 0 R /Rect [300 100 500 140] "
        + ap + b">>",
        _stream(appearance, b"/Type /XObject /Subtype /Form /BBox [0 0 200 40] /Resources << /Font << /F1 5 0 R >> >> "),
    ])


def test_widget_texts_reads_the_widgets_lines_and_not_the_pages_own_text() -> None:
    data = _signed_page_pdf([b"Ky boi:   Nguyen Van A", b"Thoi gian: 2026-12-04"])
    # the widget's two lines, joined by one space, inner runs of spaces collapsed; the page's
    # own line ("Cong van so 12") is in the page before and after flattening, so it is not the widget's
    assert visual.widget_texts(data, [("Sig1", 0, (300.0, 100.0, 500.0, 140.0))]) == {
        "Sig1": "Ky boi: Nguyen Van A Thoi gian: 2026-12-04"}
    # a widget with no appearance shows nothing
    bare = _signed_page_pdf([b"unused"], draw_widget=False)
    assert visual.widget_texts(bare, [("Sig1", 0, (300.0, 100.0, 500.0, 140.0))]) == {"Sig1": ""}


def test_widget_texts_goes_on_past_a_widget_on_a_missing_page() -> None:
    data = _signed_page_pdf([b"Ky boi: B"])
    rect = (300.0, 100.0, 500.0, 140.0)
    # index 1 is one past the last page; the widget listed after it is still read
    assert visual.widget_texts(data, [("Gone", 1, rect), ("Sig1", 0, rect)]) == {"Sig1": "Ky boi: B"}


def test_the_rendering_draws_signature_widgets() -> None:
    # the widget is part of what a reader sees: its appearance's ink is in the rendered page
    drawn = visual.render(_signed_page_pdf([b"MMMMMMMMMMMM"]), scale=1.0)
    bare = visual.render(_signed_page_pdf([b"MMMMMMMMMMMM"], draw_widget=False), scale=1.0)
    box = drawn.geometry[0].to_pixels((300.0, 100.0, 500.0, 140.0))
    def ink(r: visual.Rendering) -> int:
        return int(r.pages[0].crop(box).point(lambda v: 255 if v < visual.INK else 0).histogram()[255])
    assert ink(drawn) > 50 and ink(bare) == 0
    assert drawn.pages[0].mode == "L"


def test_clean_drops_nul_characters_and_collapses_whitespace() -> None:
    assert visual._clean("Ky\x00 boi:\n\t Nguyen\x00\x00 A ") == "Ky boi: Nguyen A"
