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
        objs.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
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
