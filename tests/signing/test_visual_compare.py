"""The decisions of ``visual.compare`` at their edges, on grey-level pages drawn pixel by pixel.

``tests/signing/test_visual.py`` renders real PDFs; here the two renderings are built directly
(PIL images plus their geometry), so every threshold can be hit exactly: the grey-level difference
that counts as a change, the smallest cluster reported, what counts as ink and as background, and
the share of a signer's ink a later signature may cover. Each of these is a line between "the
document looks as signed" and "it was altered", which is why each is pinned on both sides.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from gateway.signing import visual

SIZE = 100  # the page is 100 x 100 pt, rendered at scale 1 (1 px per point)
GEO = visual.PageGeometry((0.0, 0.0, float(SIZE), float(SIZE)), 0, 1.0)


def _page(fill: int = 255, pixels: dict[tuple[int, int], int] | None = None) -> Image.Image:
    img = Image.new("L", (SIZE, SIZE), fill)
    for xy, value in (pixels or {}).items():
        img.putpixel(xy, value)
    return img


def _block(x0: int, y0: int, x1: int, y1: int, value: int) -> dict[tuple[int, int], int]:
    """Pixels of the box [x0, x1) x [y0, y1) (bitmap coordinates, y down) set to ``value``."""
    return {(x, y): value for x in range(x0, x1) for y in range(y0, y1)}


def _rendering(*pages: Image.Image) -> visual.Rendering:
    return visual.Rendering(list(pages), [GEO] * len(pages))


def test_identical_pages_show_no_difference() -> None:
    page = _page(pixels=_block(10, 10, 20, 20, 0))
    assert visual.compare(_rendering(page), _rendering(page.copy()), {}) == []


def test_a_grey_change_counts_only_above_the_anti_aliasing_threshold() -> None:
    signed = _rendering(_page(200))
    at_threshold = _rendering(_page(200, _block(10, 10, 20, 20, 200 - visual.PIXEL_THRESHOLD)))
    assert visual.compare(signed, at_threshold, {}) == []
    above = _rendering(_page(200, _block(10, 10, 20, 20, 200 - visual.PIXEL_THRESHOLD - 1)))
    [diff] = visual.compare(signed, above, {})
    # 100 changed pixels in bitmap rows 10-19 = user-space y 80-90 (the bitmap's y runs down)
    assert (diff.page, diff.pixels, diff.kind) == (1, 100, "outside later signatures")
    assert diff.area == (10.0, 80.0, 20.0, 90.0)


def test_the_smallest_cluster_reported_is_min_pixels() -> None:
    signed = _rendering(_page())
    few = _rendering(_page(pixels=_block(50, 50, 50 + visual.MIN_PIXELS - 1, 51, 0)))
    assert visual.compare(signed, few, {}) == []
    enough = _rendering(_page(pixels=_block(50, 50, 50 + visual.MIN_PIXELS, 51, 0)))
    [diff] = visual.compare(signed, enough, {})
    assert diff.pixels == visual.MIN_PIXELS and diff.area == (50.0, 49.0, 50.0 + visual.MIN_PIXELS, 50.0)


def test_ink_added_inside_a_later_signature_is_allowed_and_next_to_it_is_not() -> None:
    # the later signature's widget covers user space 20-40 x 20-40 = bitmap rows 60-80
    rect = (20.0, 20.0, 40.0, 40.0)
    signed = _rendering(_page())
    stamped = _rendering(_page(pixels=_block(22, 62, 38, 78, 0)))
    assert visual.compare(signed, stamped, {0: [("Sig2", rect)]}) == []
    # the same ink is a change where no later signature is, and on a page with no rectangles
    assert len(visual.compare(signed, stamped, {})) == 1
    assert len(visual.compare(signed, stamped, {1: [("Sig2", rect)]})) == 1
    # one column beyond the widget's padded box (to_pixels pads 1 px before, 2 after) is outside
    box = GEO.to_pixels(rect)
    beside = _rendering(_page(pixels=_block(box[2] + 1, 62, box[2] + 2, 62 + visual.MIN_PIXELS, 0)))
    [diff] = visual.compare(signed, beside, {0: [("Sig2", rect)]})
    assert diff.kind == "outside later signatures" and diff.pixels == visual.MIN_PIXELS


def _covered(n_ink: int, n_erased: int) -> list[visual.VisualDifference]:
    """A signed page with ``n_ink`` ink pixels under a later widget, ``n_erased`` of them painted white."""
    rect = (0.0, 0.0, 60.0, 60.0)  # bitmap rows 40-100, columns 0-60
    ink = {(x % 50, 45 + x // 50): 0 for x in range(n_ink)}
    final = dict(ink)
    for xy in list(ink)[:n_erased]:
        final[xy] = 255
    return visual.compare(_rendering(_page(pixels=ink)), _rendering(_page(pixels=final)), {0: [("Sig2", rect)]})


def test_a_later_signature_may_cover_part_of_the_signed_ink_but_not_more_than_the_share() -> None:
    limit = int(visual.MAX_ERASED_SHARE * 100)  # 35 of 100 ink pixels
    assert _covered(100, limit) == []
    [diff] = _covered(100, limit + 1)
    assert diff.page == 1 and diff.pixels == limit + 1
    assert diff.kind == f"signed content hidden under signature 'Sig2' ({limit + 1} of 100 ink pixels erased)"
    # the area is where ink vanished: the first 36 pixels of bitmap row 45 = user-space y 54-55
    assert diff.area == (0.0, 54.0, float(limit + 1), 55.0)


def test_erasing_fewer_than_min_pixels_is_not_reported_even_when_it_is_all_the_ink() -> None:
    assert _covered(visual.MIN_PIXELS - 1, visual.MIN_PIXELS - 1) == []
    [diff] = _covered(visual.MIN_PIXELS, visual.MIN_PIXELS)
    assert diff.pixels == visual.MIN_PIXELS and f"({visual.MIN_PIXELS} of {visual.MIN_PIXELS} ink" in diff.kind


@pytest.mark.parametrize(
    ("signed_level", "final_level", "erased"),
    [
        (visual.INK - 1, visual.BACKGROUND + 1, True),  # ink turned into background
        (visual.INK, visual.BACKGROUND + 1, False),  # mid grey was never ink
        (visual.INK - 1, visual.BACKGROUND, False),  # light grey is not background
    ],
)
def test_what_counts_as_ink_and_as_background(signed_level: int, final_level: int, erased: bool) -> None:
    rect = (0.0, 0.0, 60.0, 60.0)
    block = _block(5, 45, 15, 55, signed_level)
    signed = _rendering(_page(pixels=block))
    final = _rendering(_page(pixels=dict.fromkeys(block, final_level)))
    diffs = visual.compare(signed, final, {0: [("Sig2", rect)]})
    assert [d.kind.startswith("signed content hidden") for d in diffs] == ([True] if erased else [])


def test_two_later_signatures_are_judged_each_under_its_own_rectangle() -> None:
    left, right = (0.0, 0.0, 40.0, 40.0), (60.0, 0.0, 100.0, 40.0)
    ink = {**_block(5, 65, 15, 75, 0), **_block(65, 65, 75, 75, 0)}
    final = {**ink, **_block(65, 65, 75, 75, 255)}  # only the ink under the right one erased
    diffs = visual.compare(_rendering(_page(pixels=ink)), _rendering(_page(pixels=final)),
                           {0: [("Left", left), ("Right", right)]})
    assert [d.kind.split(" (")[0] for d in diffs] == ["signed content hidden under signature 'Right'"]
    assert diffs[0].area == (65.0, 25.0, 75.0, 35.0)


def test_the_common_pages_are_still_compared_when_the_page_count_changed() -> None:
    signed = _rendering(_page(), _page())
    final = _rendering(_page(pixels=_block(0, 0, 10, 10, 0)))
    diffs = visual.compare(signed, final, {})
    assert [(d.page, d.pixels, d.area, d.kind) for d in diffs] == [
        (0, 0, (0, 0, 0, 0), "page count 2 → 1"),
        (1, 100, (0.0, 90.0, 10.0, 100.0), "outside later signatures"),
    ]


def test_a_difference_describes_itself_for_the_report() -> None:
    diff = visual.VisualDifference(2, (10.4, 20.6, 30.5, 41.0), 17, "hidden under signature 'X'")
    assert diff.describe() == "page 2, area 10,21-30,41 pt (17 px at render scale): hidden under signature 'X'"
    assert diff.to_dict() == {"page": 2, "area": [10.4, 20.6, 30.5, 41.0], "pixels": 17,
                              "kind": "hidden under signature 'X'"}
    assert visual.VisualDifference(1, (0, 0, 1, 1), 1).kind == "outside later signatures"


def test_the_difference_picture_marks_changed_pixels_red_over_the_final_page(tmp_path: Path) -> None:
    signed = _rendering(_page(pixels=_block(0, 0, 5, 5, 0)))
    final = _rendering(_page(pixels={**_block(0, 0, 5, 5, 0), **_block(50, 50, 60, 60, 0)}))
    png = visual.diff_png(signed, final, 1, tmp_path / "deep" / "p1.png")
    assert png == tmp_path / "deep" / "p1.png"
    with Image.open(png) as img:
        assert img.format == "PNG" and img.mode == "RGB" and img.size == (SIZE, SIZE)
        assert img.getpixel((55, 55)) == (230, 0, 0)  # changed
        assert img.getpixel((2, 2)) == (0, 0, 0)  # unchanged ink, in grey
        assert img.getpixel((80, 80)) == (255, 255, 255)  # unchanged paper
        red = sum(1 for x in range(SIZE) for y in range(SIZE) if img.getpixel((x, y)) == (230, 0, 0))
        assert red == 100


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
@pytest.mark.parametrize("scale", [0.5, 2.0])
def test_pixels_and_points_map_back_and_forth_at_any_scale(rotation: int, scale: float) -> None:
    geo = visual.PageGeometry((30.0, 50.0, 330.0, 450.0), rotation, scale)
    rect = (100.0, 200.0, 140.0, 260.0)
    box = geo.to_pixels(rect)
    # the box is the rectangle's size at this scale (axes swapped on a quarter turn), padded 1 + 2 px
    w, h = (60, 40) if rotation % 180 else (40, 60)
    assert (box[2] - box[0], box[3] - box[1]) == (int(w * scale) + 3, int(h * scale) + 3)
    back = geo.to_points(box)
    slack = 2.0 / scale + 0.01
    assert all(abs(a - b) <= slack for a, b in zip(back, rect, strict=True)), (back, rect)
    assert back[0] <= rect[0] and back[1] <= rect[1] and back[2] >= rect[2] and back[3] >= rect[3]


def test_a_quarter_turn_maps_the_top_left_corner_to_its_own_pixel() -> None:
    # crop 0 0 200 100 (landscape user space); a point 10 pt right of the left edge, 20 pt below the top
    point = (10.0, 80.0, 10.0, 80.0)
    corner = {r: visual.PageGeometry((0.0, 0.0, 200.0, 100.0), r, 1.0).to_pixels(point)[:2] for r in (90, 270)}
    # turned clockwise the top edge becomes the right edge: u = h - v = 100 - 20, v = u = 10
    assert corner[90] == (80 - 1, 10 - 1)
    # turned counter-clockwise the left edge becomes the bottom: u = v = 20, v = w - u = 190
    assert corner[270] == (20 - 1, 190 - 1)


def test_a_page_whose_size_changed_does_not_stop_the_comparison_of_the_next() -> None:
    small = visual.Rendering([Image.new("L", (50, 50), 255)], [GEO])
    signed = visual.Rendering([_page(), _page()], [GEO, GEO])
    final = visual.Rendering([small.pages[0], _page(pixels=_block(0, 0, 10, 10, 0))], [GEO, GEO])
    assert [(d.page, d.kind) for d in visual.compare(signed, final, {})] == [
        (1, "page size or rotation changed"), (2, "outside later signatures")]


def test_the_reported_areas_hold_only_what_each_rule_found() -> None:
    rect = (0.0, 0.0, 40.0, 40.0)  # bitmap rows 60-100, columns 0-40 (padded: 59-102, -1-42)
    # a change under the later widget (allowed) and one far from it: the area is the far one only
    signed = _rendering(_page())
    final = _rendering(_page(pixels={**_block(5, 70, 15, 80, 0), **_block(80, 5, 90, 15, 0)}))
    [outside] = visual.compare(signed, final, {0: [("Sig2", rect)]})
    assert outside.area == (80.0, 85.0, 90.0, 95.0) and outside.pixels == 100
    # signed ink erased both under the widget and far from it: the "hidden under" area is the part
    # under the widget; the far part is reported on its own, as a change outside later signatures
    ink = {**_block(5, 70, 15, 80, 0), **_block(80, 5, 90, 15, 0)}
    diffs = visual.compare(_rendering(_page(pixels=ink)), _rendering(_page()), {0: [("Sig2", rect)]})
    assert [(d.kind.split(" (")[0], d.area) for d in diffs] == [
        ("outside later signatures", (80.0, 85.0, 90.0, 95.0)),
        ("signed content hidden under signature 'Sig2'", (5.0, 20.0, 15.0, 30.0)),
    ]


def test_the_difference_picture_uses_the_same_threshold_and_the_pages_own_counterpart(tmp_path: Path) -> None:
    grey = 200 - visual.PIXEL_THRESHOLD
    signed = _rendering(_page(200, {(50, 50): 0}), _page(200))  # page 1 has a mark page 2 has not
    final = _rendering(_page(200), _page(200, {(10, 10): grey, (20, 20): grey - 1}))
    png = visual.diff_png(signed, final, 2, tmp_path / "a" / "b" / "p2.png")
    with Image.open(png) as img:
        assert img.getpixel((20, 20)) == (230, 0, 0)  # above the threshold: red
        assert img.getpixel((10, 10)) == (grey,) * 3  # at it: the final page's own grey
        assert img.getpixel((50, 50)) == (200, 200, 200)  # page 2 is compared with page 2
    # the same folder again, and a name without .png: the format is PNG regardless
    again = visual.diff_png(signed, final, 1, tmp_path / "a" / "b" / "page-1.diff")
    with Image.open(again) as img:
        assert img.format == "PNG" and img.getpixel((20, 20)) == (200, 200, 200)
        assert img.getpixel((50, 50)) == (230, 0, 0)  # page 1's mark is gone from the final page 1


@pytest.mark.parametrize(("rotation", "same_as"), [(-90, 270), (450, 90), (720, 0), (-180, 180)])
def test_rotations_outside_0_to_359_map_like_their_remainder(rotation: int, same_as: int) -> None:
    crop = (30.0, 50.0, 330.0, 450.0)
    odd, plain = visual.PageGeometry(crop, rotation, 1.5), visual.PageGeometry(crop, same_as, 1.5)
    rect = (100.0, 200.0, 140.0, 260.0)
    assert odd.to_pixels(rect) == plain.to_pixels(rect)
    assert odd.to_points((10, 20, 50, 90)) == plain.to_points((10, 20, 50, 90))
