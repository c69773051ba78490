"""Stamps on every page shape, read back from the rendered page (mutool's structured text, not
pixels alone): rotated pages, landscape, CropBox ≠ MediaBox, offset boxes, multi-line and
over-long references, the copy stamp inside the printable margin, and the placeholder hidden
under the signature (pixels of the final page rendered by pdfium and by mupdf)."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from lxml import etree
from PIL import Image
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from gateway.errors import SigningError
from gateway.signing.geometry import MM, PRINTABLE_EDGE_MM, RIGHT_MARGIN_MM, TOP_MARGIN_MM
from gateway.signing.placement import find_placeholder, page_frame
from gateway.signing.sign import DocumentSigner
from gateway.signing.testing import make_sample_pdf
from gateway.signing.verify import verify_pdf

from .conftest import need, pdfsig

ISO_VN = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00$")
LANDSCAPE = (0.0, 0.0, 841.89, 595.28)
BIG = (0.0, 0.0, 700.0, 950.0)
CROP = (40.0, 50.0, 635.28, 891.89)

SHAPES = {
    "portrait": {},
    "landscape": {"media_box": LANDSCAPE},
    "rotate-90": {"rotate": 90},
    "rotate-180": {"rotate": 180},
    "rotate-270": {"rotate": 270},
    "rotate-minus-90": {"rotate": -90},
    "landscape-rotate-90": {"media_box": LANDSCAPE, "rotate": 90},
    "cropbox": {"media_box": BIG, "crop_box": CROP},
    "cropbox-rotate-270": {"media_box": BIG, "crop_box": CROP, "rotate": 270},
    "offset-mediabox": {"media_box": (100.0, 200.0, 695.28, 1041.89)},
}


def rendered_lines(pdf: bytes, tmp_path: Path, page: int = 1) -> tuple[list[dict], float, float]:
    """Lines as mupdf lays out the page the reader sees: text, bbox (top-left origin), dir, sizes."""
    src = tmp_path / "in.pdf"
    src.write_bytes(pdf)
    out = tmp_path / "page.xml"
    subprocess.run(
        [need("mutool"), "draw", "-q", "-F", "stext", "-o", str(out), str(src), str(page)],
        check=True,
        capture_output=True,
    )
    root = etree.fromstring(out.read_bytes())
    page_el = root.find("page")
    lines = []
    for line in root.iter("line"):
        chars = [c for font in line.iter("font") for c in font.iter("char")]
        sizes = {round(float(font.get("size")), 3) for font in line.iter("font")}
        fonts = {font.get("name") for font in line.iter("font")}
        x0, y0, x1, y1 = (float(v) for v in line.get("bbox").split())
        lines.append(
            {
                "text": "".join(c.get("c") for c in chars),
                "bbox": (x0, y0, x1, y1),
                "dir": line.get("dir"),
                "sizes": sizes,
                "fonts": fonts,
            }
        )
    return lines, float(page_el.get("width")), float(page_el.get("height"))


def stamp_lines(pdf: bytes, tmp_path: Path) -> tuple[list[dict], float, float]:
    lines, w, h = rendered_lines(pdf, tmp_path)
    return [ln for ln in lines if any("LienthongSerif" in f for f in ln["fonts"])], w, h


def assert_top_right_upright(lines: list[dict], page_w: float, expected_size: float = 10) -> None:
    assert lines, "no stamp text on the rendered page"
    for ln in lines:
        x0, y0, x1, y1 = ln["bbox"]
        assert ln["dir"] == "1 0", f"{ln['text']!r} is not upright for the reader (dir {ln['dir']})"
        assert ln["sizes"] == {expected_size}, ln
        assert x0 >= page_w / 2, f"{ln['text']!r} starts left of the page's middle: {ln['bbox']}"
        assert x1 <= page_w - RIGHT_MARGIN_MM * MM + 1, f"{ln['text']!r} crosses the right margin: {ln['bbox']}"
        assert y0 >= PRINTABLE_EDGE_MM * MM - 0.5, f"{ln['text']!r} outside the printable area: {ln['bbox']}"
        assert y1 <= TOP_MARGIN_MM * MM, f"{ln['text']!r} below the top margin: {ln['bbox']}"


@pytest.fixture(scope="module")
def agency(settings):
    with DocumentSigner(settings.profile("ubnd-thu-nghiem"), settings.trust) as signer:
        yield signer


@pytest.fixture(scope="module")
def person(settings):
    with DocumentSigner(settings.profile("nguyen-van-an"), settings.trust) as signer:
        yield signer


@pytest.mark.parametrize("shape", list(SHAPES))
def test_attachment_stamp_top_right_upright_on_every_page_shape(shape, agency, settings, tmp_path):
    out = agency.sign_attachment(make_sample_pdf(1, **SHAPES[shape]), reference="123/QĐ-UBND")
    lines, page_w, page_h = stamp_lines(out, tmp_path)
    frame = page_frame(PdfFileReader(io.BytesIO(out)), 0)
    assert (page_w, page_h) == pytest.approx(frame.display_size, abs=0.5)  # mupdf shows the visible box
    assert lines[0]["text"] == "123/QĐ-UBND"
    assert len(lines) == 2 and ISO_VN.match(lines[1]["text"]), lines
    assert_top_right_upright(lines, page_w)
    (sig,) = verify_pdf(out, settings.trust).signatures
    assert sig.valid and sig.claimed_signing_time == lines[1]["text"]


@pytest.mark.parametrize("shape", ["portrait", "rotate-90", "cropbox-rotate-270", "landscape"])
def test_copy_stamp_inside_the_printable_margin(shape, agency, tmp_path, nssdb):
    out = agency.sign_copy(make_sample_pdf(1, **SHAPES[shape]), copy_form="SAO Y")
    lines, page_w, _h = stamp_lines(out, tmp_path)
    assert [ln["text"] for ln in lines][:2] == ["SAO Y", "UBND tỉnh Thử Nghiệm"]
    assert len(lines) == 3 and ISO_VN.match(lines[2]["text"])
    assert_top_right_upright(lines, page_w)
    # the first line's glyphs start below the printable edge (it was 3.5 mm from the paper edge)
    assert lines[0]["bbox"][1] >= PRINTABLE_EDGE_MM * MM
    path = tmp_path / "copy.pdf"
    path.write_bytes(out)
    assert pdfsig(path, nssdb)[0]["Signature Validation"] == "Signature is Valid."


def test_reference_with_line_breaks_keeps_the_time(agency, tmp_path):
    out = agency.sign_attachment(make_sample_pdf(1), reference="123/QĐ-UBND\nngày 01/12/2026")
    lines, page_w, _h = stamp_lines(out, tmp_path)
    assert [ln["text"] for ln in lines[:2]] == ["123/QĐ-UBND", "ngày 01/12/2026"]
    assert len(lines) == 3 and ISO_VN.match(lines[2]["text"])  # the full time, last
    assert_top_right_upright(lines, page_w)


@pytest.mark.parametrize("shape", ["portrait", "rotate-90"])
def test_long_reference_wraps_inside_the_stamp_box(shape, agency, tmp_path):
    reference = "1234/2026/QĐ-UBND-VPUB-KGVX về việc phê duyệt kế hoạch chuyển đổi số năm 2027"
    out = agency.sign_attachment(make_sample_pdf(1, **SHAPES[shape]), reference=reference)
    lines, page_w, _h = stamp_lines(out, tmp_path)
    assert len(lines) == 3 and ISO_VN.match(lines[-1]["text"])  # two lines of reference, then the time
    assert " ".join(ln["text"] for ln in lines[:-1]) == reference  # every word present, in order
    assert_top_right_upright(lines, page_w)
    for ln in lines:  # wrapped: no line runs across the whole top margin
        assert ln["bbox"][2] - ln["bbox"][0] <= 0.5 * page_w - RIGHT_MARGIN_MM * MM


def test_unbreakable_reference_is_split_not_clipped(agency, tmp_path):
    reference = "QĐ" + "X" * 40  # wider than the stamp, no space or / - , to break at
    out = agency.sign_attachment(make_sample_pdf(1), reference=reference)
    lines, page_w, _h = stamp_lines(out, tmp_path)
    assert "".join(ln["text"] for ln in lines[:-1]) == reference
    assert ISO_VN.match(lines[-1]["text"])
    assert_top_right_upright(lines, page_w)


@pytest.mark.parametrize(
    "reference",
    ["123/QĐ-UBND " * 30, "1/QĐ\n2/QĐ\n3/QĐ", "số " + "rất dài " * 40],
)
def test_reference_too_long_for_the_top_margin_is_refused(reference, agency):
    with pytest.raises(SigningError, match=r"needs \d+ lines .* top margin holds 3"):
        agency.sign_attachment(make_sample_pdf(1), reference=reference)


# -- the placeholder under the signature image -------------------------------------------------
def _dark_pixels(image: Image.Image, box: tuple[float, float, float, float], scale: float) -> int:
    u0, v0, u1, v1 = (round(c * scale) for c in box)
    crop = image.convert("RGB").crop((u0, v0, u1, v1))
    return sum(1 for r, g, b in crop.get_flattened_data() if max(r, g, b) < 120)  # black text, not blue/red ink


def _pdfium_page(pdf: bytes, page: int, scale: float) -> Image.Image:
    doc = pdfium.PdfDocument(pdf)
    doc.init_forms()  # without a form environment pdfium does not draw widget appearances
    try:
        return doc[page].render(scale=scale, draw_annots=True, may_draw_forms=True).to_pil()
    finally:
        doc.close()


def _mupdf_page(pdf: bytes, page: int, tmp_path: Path, dpi: int) -> Image.Image:
    src, png = tmp_path / "render.pdf", tmp_path / "render.png"
    src.write_bytes(pdf)
    subprocess.run([need("mutool"), "draw", "-q", "-r", str(dpi), "-o", str(png), str(src), str(page + 1)], check=True)
    return Image.open(png)


def _placeholder_display_box(pdf: bytes) -> tuple[int, tuple[float, float, float, float]]:
    reader = PdfFileReader(io.BytesIO(pdf))
    anchor = find_placeholder(reader, "[[CHU_KY]]")
    assert anchor is not None and anchor.placeholder is not None
    frame = page_frame(reader, anchor.page)
    return anchor.page, frame.to_display(anchor.placeholder)


@pytest.mark.parametrize("shape", ["portrait", "rotate-90", "rotate-180", "cropbox-rotate-270", "landscape"])
def test_placeholder_hidden_under_the_signature(shape, person, settings, tmp_path):
    original = make_sample_pdf(2, **SHAPES[shape])
    page, box = _placeholder_display_box(original)
    scale = 2.0
    assert _dark_pixels(_pdfium_page(original, page, scale), box, scale) > 50  # the check can fail
    signed = person.sign_main(original)
    assert _dark_pixels(_pdfium_page(signed, page, scale), box, scale) == 0
    assert _dark_pixels(_mupdf_page(signed, page, tmp_path, 144), box, scale) == 0
    # the image itself is there, upright: blue ink inside the widget around the placeholder
    ink = _pdfium_page(signed, page, scale).convert("RGB").crop(tuple(round(c * scale) for c in box))
    assert any(b > 150 and r < 100 for r, g, b in ink.get_flattened_data())
    (sig,) = verify_pdf(signed, settings.trust).signatures
    assert sig.valid, sig.reasons


def test_seal_over_the_signature_on_a_rotated_page(person, agency, settings):
    signed = agency.sign_main(person.sign_main(make_sample_pdf(1, rotate=90)))
    report = verify_pdf(signed, settings.trust)
    assert report.valid, report.to_dict()
    from gateway.signing.placement import signature_widgets

    reader = PdfFileReader(io.BytesIO(signed))
    frame = page_frame(reader, 0)
    widgets = {w.field_name: frame.to_display(w.rect) for w in signature_widgets(reader)}
    sig, seal = widgets["NguoiKy1"], widgets["CoQuan1"]
    # as the reader sees it: the seal's right edge on the first third of the signature image
    assert seal[2] == pytest.approx(sig[0] + (sig[2] - sig[0]) / 3, abs=1.5)
    assert seal[0] < sig[0]
    assert (seal[1] + seal[3]) / 2 == pytest.approx((sig[1] + sig[3]) / 2, abs=1.5)


def test_agency_seal_on_the_placeholder_hides_it_too(agency):
    original = make_sample_pdf(1)
    page, box = _placeholder_display_box(original)
    sealed = agency.sign_main(original)
    assert _dark_pixels(_pdfium_page(sealed, page, 2.0), box, 2.0) == 0


def _placeholder_in_form_xobject() -> bytes:
    """The placeholder drawn from a form XObject: invisible to our content-stream tokenizer."""
    from pyhanko.pdf_utils.generic import pdf_name
    from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

    from gateway.signing.testing import A4

    w = PdfFileWriter(stream_xrefs=False)
    font = w.add_object(
        generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Font"),
                pdf_name("/Subtype"): pdf_name("/Type1"),
                pdf_name("/BaseFont"): pdf_name("/Times-Roman"),
                pdf_name("/Encoding"): pdf_name("/WinAnsiEncoding"),
            }
        )
    )
    fonts = generic.DictionaryObject({pdf_name("/F1"): font})
    form = generic.StreamObject(
        {
            pdf_name("/Type"): pdf_name("/XObject"),
            pdf_name("/Subtype"): pdf_name("/Form"),
            pdf_name("/BBox"): generic.ArrayObject(generic.NumberObject(v) for v in (0, 0, 300, 100)),
            pdf_name("/Resources"): generic.DictionaryObject({pdf_name("/Font"): fonts}),
        },
        stream_data=b"BT /F1 13 Tf 20 40 Td ([[CHU_KY]]) Tj ET",
    )
    resources = generic.DictionaryObject(
        {pdf_name("/XObject"): generic.DictionaryObject({pdf_name("/Fm0"): w.add_object(form)})}
    )
    content = w.add_object(generic.StreamObject(stream_data=b"q 1 0 0 1 300 200 cm /Fm0 Do Q"))
    w.insert_page(PageObject(contents=content, media_box=A4, resources=resources))
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def test_placeholder_the_tokenizer_cannot_read_is_found_by_pdfium_and_hidden(person, settings):
    from gateway.signing.placement import find_placeholder_rendered

    original = _placeholder_in_form_xobject()
    assert find_placeholder(PdfFileReader(io.BytesIO(original)), "[[CHU_KY]]") is None
    anchor = find_placeholder_rendered(original, "[[CHU_KY]]")
    assert anchor is not None and anchor.page == 0
    x0, y0, x1, y1 = anchor.rect
    assert 315 < x0 < 322 and 385 < x1 < 395 and y0 < 240 < y1  # 300+20 = 320, baseline 200+40
    box = page_frame(PdfFileReader(io.BytesIO(original)), 0).to_display(anchor.rect)
    assert _dark_pixels(_pdfium_page(original, 0, 2.0), box, 2.0) > 50
    signed = person.sign_main(original)
    assert _dark_pixels(_pdfium_page(signed, 0, 2.0), box, 2.0) == 0
    assert verify_pdf(signed, settings.trust).valid


def test_page_frame_maps_both_ways_for_every_rotation():
    from gateway.signing.geometry import PageFrame, normalise_rotation

    for rotation in (0, 90, 180, 270):
        frame = PageFrame((10.0, 20.0, 610.0, 820.0), rotation)
        w, h = frame.display_size
        assert (w, h) == ((800.0, 600.0) if rotation in (90, 270) else (600.0, 800.0))
        shown = (w - 100, 10.0, w - 20, 40.0)  # a top-right box as read
        user = frame.to_user(shown)
        assert frame.to_display(user) == pytest.approx(shown)
        x0, y0, x1, y1 = user
        assert 10 <= x0 < x1 <= 610 and 20 <= y0 < y1 <= 820
    assert normalise_rotation(-90) == 270 and normalise_rotation(450) == 90
    with pytest.raises(SigningError, match="multiple of 90"):
        normalise_rotation(45)
