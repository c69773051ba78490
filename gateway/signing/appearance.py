"""What a signature looks like on the page (Decree 30/2020, Appendix I) as pyHanko stamp styles.

* Seal or handwritten-signature image (main document): a transparent PNG drawn at its real size.
  The PNG is decoded and Flate-compressed **once**; every signature afterwards only copies the
  encoded bytes into the new PDF revision (pyHanko's ``PdfImage`` would re-encode it each time).
* Text stamp (attachment in a separate file, electronic copy): Times-New-Roman-compatible serif
  ("Lienthong Serif", a Vietnamese subset of Liberation Serif scaled to 1000 units/em, see
  ``fonts/prep_font.py``), size 10, upright, black, no border, no image. The signing time is the
  signature's own signing time rendered in ISO 8601 with the Vietnam offset (+07:00).

Both are laid out as the reader sees the page (:mod:`gateway.signing.geometry`): on a page
shown rotated, the image is drawn rotated inside its widget and the text stamp's appearance
carries a ``/Matrix``, so both read upright. An image anchored on a placeholder text covers the
placeholder's box in white inside its own widget (docs/signing.md, "The placeholder").
"""

from __future__ import annotations

import functools
import io
import logging
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pyhanko.pdf_utils import content, generic, layout
from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.stamp import BaseStampStyle, TextStampStyle
from pyhanko.stamp.base import BaseStamp
from pyhanko.stamp.text import TextStamp

from gateway.errors import ConfigurationError
from gateway.signing.geometry import MM as MM  # re-exported: callers and tests take units from here
from gateway.signing.geometry import RIGHT_MARGIN_MM as RIGHT_MARGIN_MM
from gateway.signing.geometry import STAMP_FONT_SIZE as STAMP_FONT_SIZE
from gateway.signing.geometry import STAMP_LEADING, PageFrame, rotation_matrix, text_block_size, top_right_display_box
from gateway.signing.geometry import TOP_MARGIN_MM as TOP_MARGIN_MM

logging.getLogger("fontTools").setLevel(logging.ERROR)  # "FFTM NOT subset" on every stamp otherwise

VIETNAM_TZ = timezone(timedelta(hours=7), "ICT")
FONT_PATH = Path(__file__).resolve().parent / "fonts" / "LienthongSerif-Regular.ttf"
_ISO_FORMAT = "%Y-%m-%dT%H:%M:%S%z"

Rect = tuple[float, float, float, float]


def _number(value: int) -> generic.NumberObject:
    return generic.NumberObject(value)  # type: ignore[no-untyped-call]


def vietnam_time_iso(moment: datetime) -> str:
    """``2026-11-27T09:15:30+07:00``: the form the Decree asks for (ISO 8601, Vietnam offset)."""
    return moment.astimezone(VIETNAM_TZ).isoformat(timespec="seconds")


class PreparedImage(PdfImage):
    """A PNG decoded and compressed once, embedded into any number of PDFs by copying bytes."""

    def __init__(self, path: Path, width_pt: float):
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as raw:
                img = raw.convert("RGBA")
        except (OSError, UnidentifiedImageError) as exc:
            raise ConfigurationError(f"{path}: cannot read image ({exc})") from exc
        height_pt = width_pt * img.height / img.width
        super().__init__(img, box=layout.BoxConstraints(width_pt, height_pt))
        self.source = path
        self._rgb = zlib.compress(img.convert("RGB").tobytes(), 6)
        self._alpha = zlib.compress(img.getchannel("A").tobytes(), 6)

    def _stream(self, data: bytes, colour_space: str, smask: Any = None) -> generic.StreamObject:
        d = {
            pdf_name("/Type"): pdf_name("/XObject"),
            pdf_name("/Subtype"): pdf_name("/Image"),
            pdf_name("/Width"): _number(self.image.width),
            pdf_name("/Height"): _number(self.image.height),
            pdf_name("/ColorSpace"): pdf_name(colour_space),
            pdf_name("/BitsPerComponent"): _number(8),
            pdf_name("/Filter"): pdf_name("/FlateDecode"),
        }
        if smask is not None:
            d[pdf_name("/SMask")] = smask
        return generic.StreamObject(d, encoded_data=data)

    @property
    def image_ref(self) -> generic.IndirectObject:
        writer = self.writer
        assert writer is not None
        ref = self._image_ref
        if ref is None or ref.get_pdf_handler() is not writer:  # type: ignore[no-untyped-call]
            smask = writer.add_object(self._stream(self._alpha, "/DeviceGray"))
            ref = writer.add_object(self._stream(self._rgb, "/DeviceRGB", smask))
            self._image_ref = ref
        return ref


@functools.lru_cache(maxsize=16)
def prepared_image(path: Path, width_mm: float) -> PreparedImage:
    """Cache per (file, size): profiles reuse the same seal for every document."""
    return PreparedImage(path, width_mm * MM)


class ImageStamp(BaseStamp):
    """The signature or seal image, upright for the reader, over white boxes hiding placeholders.

    The appearance's BBox is the widget rectangle in user-space orientation; the image is placed
    inside it with the page's rotation, and each ``cover`` rectangle (relative to the widget) is
    filled white first, so a placeholder text under the signature disappears in the signature's
    own revision and inside its own rectangle (nothing else on the page changes).
    """

    def __init__(self, writer: Any, style: ImageStampStyle, box: layout.BoxConstraints):
        super().__init__(writer=writer, style=style, box=box)
        self.image_style = style

    def _render_inner_content(self) -> list[bytes]:
        style = self.image_style
        image = style.image
        image.set_writer(self.writer)  # type: ignore[no-untyped-call]
        self.set_resource(
            category=content.ResourceType.XOBJECT, name=pdf_name("/Img"), value=image.image_ref
        )
        ops: list[bytes] = []
        for x0, y0, x1, y1 in style.cover:
            ops.append(b"q 1 g %.3f %.3f %.3f %.3f re f Q" % (x0, y0, x1 - x0, y1 - y0))
        ix0, iy0, _ix1, _iy1 = style.image_rect
        a, b, c, d, e, f = rotation_matrix(style.rotation, image.box.width, image.box.height)
        ops.append(b"q %.4f %.4f %.4f %.4f %.3f %.3f cm /Img Do Q" % (a, b, c, d, e + ix0, f + iy0))
        return ops


@dataclass(frozen=True)
class ImageStampStyle(BaseStampStyle):
    """Per-signature image appearance: where the image sits in the widget, rotation, covers."""

    image: PreparedImage = None  # type: ignore[assignment]
    image_rect: Rect = (0.0, 0.0, 0.0, 0.0)  # relative to the widget's lower-left corner
    rotation: int = 0
    cover: tuple[Rect, ...] = ()
    border_width: int = 0
    background: Any = None

    def create_stamp(self, writer: Any, box: layout.BoxConstraints, text_params: dict[str, Any]) -> ImageStamp:
        return ImageStamp(writer, self, box)


def image_style(
    image: PreparedImage, image_rect: Rect, widget: Rect, *, rotation: int = 0, cover: tuple[Rect, ...] = ()
) -> ImageStampStyle:
    """The image at ``image_rect`` (user space) in a widget at ``widget``, covers filled white."""
    wx, wy = widget[0], widget[1]

    def rel(r: Rect) -> Rect:
        return (r[0] - wx, r[1] - wy, r[2] - wx, r[3] - wy)

    covers = tuple(rel(c) for c in cover)
    return ImageStampStyle(image=image, image_rect=rel(image_rect), rotation=rotation, cover=covers)


class _RotatedTextStamp(TextStamp):
    """A text stamp laid out upright for the reader: its form XObject carries the page rotation."""

    rotation = 0

    def as_form_xobject(self) -> generic.StreamObject:
        xobj: generic.StreamObject = super().as_form_xobject()
        if self.rotation:
            a, b, c, d, _e, _f = rotation_matrix(self.rotation, 1, 1)
            xobj[pdf_name("/Matrix")] = generic.ArrayObject(_number(int(v)) for v in (a, b, c, d, 0, 0))
        return xobj


@dataclass(frozen=True)
class VietnamTimeTextStampStyle(TextStampStyle):
    """A text stamp whose ``%(ts)s`` is the signing time in ISO 8601 with +07:00.

    pyHanko formats the signing time with ``timestamp_format`` in the machine's zone; we ask it
    for a parseable form and re-render it, so the stamp shows exactly the signed time. On a page
    shown rotated, the stamp is laid out in the reader's orientation (the widget rectangle's
    sides swap for 90/270) and the appearance's ``/Matrix`` turns it upright.
    """

    timestamp_format: str = _ISO_FORMAT
    rotation: int = 0

    def create_stamp(self, writer: Any, box: layout.BoxConstraints, text_params: dict[str, Any]) -> TextStamp:
        params = dict(text_params)
        if "ts" in params:
            params["ts"] = vietnam_time_iso(datetime.strptime(params["ts"], _ISO_FORMAT))
        if self.rotation in (90, 270):
            box = layout.BoxConstraints(width=box.height, height=box.width)
        stamp = _RotatedTextStamp(writer=writer, style=self, box=box, text_params=params)
        stamp.rotation = self.rotation
        return stamp


def text_style(template: str, rotation: int = 0) -> VietnamTimeTextStampStyle:
    """Serif 10 pt black text, left-aligned lines, the block pushed to the box's top right."""
    return VietnamTimeTextStampStyle(
        stamp_text=template,
        rotation=rotation,
        border_width=0,
        text_box_style=TextBoxStyle(
            font=GlyphAccumulatorFactory(str(FONT_PATH), font_size=STAMP_FONT_SIZE),
            font_size=STAMP_FONT_SIZE,
            leading=STAMP_LEADING,
            text_color=(0.0, 0.0, 0.0),
            # without an explicit rule pyHanko pads the text box by 10 pt on every side
            box_layout_rule=layout.SimpleBoxLayoutRule(
                x_align=layout.AxisAlignment.ALIGN_MIN,
                y_align=layout.AxisAlignment.ALIGN_MAX,
                margins=layout.Margins(0, 0, 0, 0),
                inner_content_scaling=layout.InnerScaling.NO_SCALING,
            ),
        ),
        inner_content_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MAX,
            y_align=layout.AxisAlignment.ALIGN_MAX,
            margins=layout.Margins(0, 0, 0, 0),
            inner_content_scaling=layout.InnerScaling.NO_SCALING,
        ),
    )


@functools.lru_cache(maxsize=1)
def _font_metrics() -> tuple[dict[int, str], dict[str, tuple[int, int]], int]:
    from fontTools.ttLib import TTFont

    font = TTFont(io.BytesIO(FONT_PATH.read_bytes()))
    return dict(font.getBestCmap()), dict(font["hmtx"].metrics), int(font["head"].unitsPerEm)


@functools.lru_cache(maxsize=1024)
def text_width(text: str, size: float = STAMP_FONT_SIZE) -> float:
    """Advance width of one line in points (no kerning; a safe upper bound for a box)."""
    cmap, metrics, upem = _font_metrics()
    units = 0
    for ch in text:
        glyph = cmap.get(ord(ch), ".notdef")
        units += metrics.get(glyph, metrics[".notdef"])[0]
    return units * size / upem


def top_right_box(page: Rect | PageFrame, lines: list[str]) -> Rect:
    """The text stamp's widget rectangle (user space): top right of the page as read, upright."""
    frame = page if isinstance(page, PageFrame) else PageFrame(page)
    width, height = text_block_size(lines, text_width)
    return frame.to_user(top_right_display_box(frame, width, height))


def seal_box(signature_rect: Rect, seal_width: float, seal_height: float) -> Rect:
    """The seal's rectangle: its right edge covers the left third of the signer's image.

    The seal is centred vertically on the signer's image, like a paper seal stamped over the
    left part of a handwritten signature (Decree 30, Appendix I). Display space (as read).
    """
    sx0, sy0, sx1, sy1 = signature_rect
    right = sx0 + (sx1 - sx0) / 3
    cy = (sy0 + sy1) / 2
    return (right - seal_width, cy - seal_height / 2, right, cy + seal_height / 2)


def centred_box(anchor: Rect, width: float, height: float) -> Rect:
    """The signer's image centred on the anchor (the slot between title and name lines)."""
    ax0, ay0, ax1, ay1 = anchor
    cx, cy = (ax0 + ax1) / 2, (ay0 + ay1) / 2
    return (cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2)
