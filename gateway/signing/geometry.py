"""Page geometry as the reader sees it: the visible box, the page rotation, and stamp layout.

A PDF page is drawn in *user space* (origin bottom-left, points) but shown to the reader
clipped to its CropBox (itself clipped to the MediaBox) and turned clockwise by ``/Rotate``. A
stamp that must sit "top right, upright" is laid out in *display space* (origin top-left of
the visible page as shown, ``u`` to the right, ``v`` downwards) and mapped back to user space
with :class:`PageFrame`; the appearance stream then carries the matching rotation so its text
reads upright.

Text stamps (attachment, copy) live in the band between the printable edge and the end of the
top margin, right-aligned to the right margin; lines are wrapped at spaces (then after ``/``,
``-`` or ``,``) to the stamp's maximum width, and a stamp that would not fit the band is refused
rather than clipped: the signing time is always the last line and always shown in full.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from gateway.errors import SigningError

Rect = tuple[float, float, float, float]
MM = 72.0 / 25.4
STAMP_FONT_SIZE = 10
STAMP_LEADING = STAMP_FONT_SIZE + 2
STAMP_PADDING = 2.0  # around the text block, inside the widget
#: Decree 30 Appendix I margins: top 20-25 mm, right 15-20 mm. The stamp keeps inside both.
TOP_MARGIN_MM = 20.0
RIGHT_MARGIN_MM = 20.0
#: Office printers cannot print the outer ~4-5 mm of a sheet; the stamp's box starts below this.
PRINTABLE_EDGE_MM = 5.0
#: A stamp stays in the right half of the visible page (a long reference wraps).
STAMP_MAX_WIDTH_SHARE = 0.5


@dataclass(frozen=True)
class PageFrame:
    """The visible box of a page (user space) and its clockwise display rotation (0/90/180/270)."""

    box: Rect
    rotation: int = 0

    @property
    def display_size(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        w, h = x1 - x0, y1 - y0
        return (h, w) if self.rotation in (90, 270) else (w, h)

    def _point_to_user(self, u: float, v: float) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        if self.rotation == 90:
            return x0 + v, y0 + u
        if self.rotation == 180:
            return x1 - u, y0 + v
        if self.rotation == 270:
            return x1 - v, y1 - u
        return x0 + u, y1 - v

    def _point_to_display(self, x: float, y: float) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        if self.rotation == 90:
            return y - y0, x - x0
        if self.rotation == 180:
            return x1 - x, y - y0
        if self.rotation == 270:
            return y1 - y, x1 - x
        return x - x0, y1 - y

    def to_user(self, rect: Rect) -> Rect:
        """A display-space rectangle (u0, v0, u1, v1) as a user-space rectangle (x0, y0, x1, y1)."""
        return _bbox(self._point_to_user(rect[0], rect[1]), self._point_to_user(rect[2], rect[3]))

    def to_display(self, rect: Rect) -> Rect:
        """A user-space rectangle as a display-space rectangle (top-left origin, as read)."""
        return _bbox(self._point_to_display(rect[0], rect[1]), self._point_to_display(rect[2], rect[3]))


def _bbox(a: tuple[float, float], b: tuple[float, float]) -> Rect:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1]))


def normalise_rotation(value: float) -> int:
    """``/Rotate`` as 0, 90, 180 or 270 (negative and > 360 values occur; non-multiples are invalid)."""
    r = int(value)
    if r % 90:
        raise SigningError(f"page /Rotate {r} is not a multiple of 90")
    return r % 360


def rotation_matrix(rotation: int, width: float, height: float) -> tuple[float, float, float, float, float, float]:
    """The matrix turning a ``width`` × ``height`` display-oriented box so it reads upright on a
    page shown turned by ``rotation`` degrees clockwise; its image starts at the origin."""
    ua, ub, uc, ud = {0: (1, 0, 0, 1), 90: (0, 1, -1, 0), 180: (-1, 0, 0, -1), 270: (0, -1, 1, 0)}[rotation]
    a, b, c, d = ua * width, ub * width, uc * height, ud * height
    return (a, b, c, d, -min(0, a, c, a + c), -min(0, b, d, b + d))


# -- text stamps -----------------------------------------------------------------------------------
_BREAK_AFTER = re.compile(r"(?<=[/\-,])")


def _split_long_word(word: str, fits: Callable[[str], bool]) -> list[str]:
    pieces = [p for p in _BREAK_AFTER.split(word) if p]
    out: list[str] = []
    for piece in pieces:
        if out and fits(out[-1] + piece):
            out[-1] += piece
        elif fits(piece):
            out.append(piece)
        else:  # one unbreakable run wider than the stamp: break between characters
            current = ""
            for ch in piece:
                if current and not fits(current + ch):
                    out.append(current)
                    current = ch
                else:
                    current += ch
            out.append(current)
    return out


def wrap_line(text: str, max_width: float, width_of: Callable[[str], float]) -> list[str]:
    """Greedy wrap of one line at spaces, then after ``/``, ``-``, ``,``, then anywhere."""

    def fits(s: str) -> bool:
        return width_of(s) <= max_width

    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if fits(candidate):
            current = candidate
            continue
        if current:
            lines.append(current)
        if fits(word):
            current = word
        else:
            *full, current = _split_long_word(word, fits)
            lines.extend(full)
    if current:
        lines.append(current)
    return lines


def stamp_lines(
    paragraphs: list[str], time_line: str, frame: PageFrame, width_of: Callable[[str], float]
) -> list[str]:
    """The stamp's lines: each paragraph (line breaks in it kept) wrapped, then the time, unbroken.

    Raises ``SigningError`` naming the text when the lines do not fit the top-margin band.
    """
    max_width = stamp_max_width(frame)
    lines: list[str] = []
    for paragraph in paragraphs:
        for raw in paragraph.splitlines():
            if raw.strip():
                lines.extend(wrap_line(raw, max_width, width_of))
    lines.append(time_line)
    limit = max_stamp_lines()
    if len(lines) > limit:
        shown = " / ".join(" ".join(p.split()) for p in paragraphs)
        raise SigningError(
            f"the stamp text {shown!r} needs {len(lines)} lines of {STAMP_FONT_SIZE} pt at most "
            f"{max_width / MM:.0f} mm wide, but the top margin holds {limit} (the signing time included); "
            "shorten the number/notation or the agency name"
        )
    return lines


def stamp_max_width(frame: PageFrame) -> float:
    """From the right margin leftwards to the middle of the page as read, less the padding."""
    return frame.display_size[0] * STAMP_MAX_WIDTH_SHARE - RIGHT_MARGIN_MM * MM - 2 * STAMP_PADDING


def max_stamp_lines() -> int:
    band = (TOP_MARGIN_MM - PRINTABLE_EDGE_MM) * MM - 2 * STAMP_PADDING
    return int(band // STAMP_LEADING)


def text_block_size(lines: list[str], width_of: Callable[[str], float]) -> tuple[float, float]:
    """Whole points (pyHanko sizes appearance boxes in integers), never smaller than the text."""
    width = max(width_of(line) for line in lines) + 2 * STAMP_PADDING
    return float(math.ceil(width)), float(len(lines) * STAMP_LEADING + 2 * STAMP_PADDING)


def top_right_display_box(frame: PageFrame, width: float, height: float) -> Rect:
    """Right-aligned to the right margin, centred in the band from the printable edge to the
    end of the top margin (display space)."""
    page_w, _page_h = frame.display_size
    band_top, band_bottom = PRINTABLE_EDGE_MM * MM, TOP_MARGIN_MM * MM
    top = band_top + max(0.0, (band_bottom - band_top - height) / 2)
    right = page_w - RIGHT_MARGIN_MM * MM
    return (max(0.0, right - width), top, right, top + height)
