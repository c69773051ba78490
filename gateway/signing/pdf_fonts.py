"""Glyph widths and vertical extent of simple PDF fonts, for locating placeholder text exactly.

The placeholder's box is what the signer's appearance covers (docs/signing.md, "The placeholder"),
so it must be the box the text really occupies: widths come from the font's ``/Widths`` (with
``/FirstChar`` and the descriptor's ``/MissingWidth``), or, for the standard 14 fonts that carry
no widths, from the Adobe font metrics shipped with pdfminer.six. Ascent and descent come from
the font descriptor (or those metrics). Composite (Type0/CID) fonts are not decoded here; the
caller falls back to a renderer for them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

_DEFAULT_WIDTH = 500.0
_ALIASES = {
    "Arial": "Helvetica",
    "ArialMT": "Helvetica",
    "Arial,Bold": "Helvetica-Bold",
    "Arial-BoldMT": "Helvetica-Bold",
    "TimesNewRoman": "Times-Roman",
    "TimesNewRomanPSMT": "Times-Roman",
    "TimesNewRoman,Bold": "Times-Bold",
    "TimesNewRomanPS-BoldMT": "Times-Bold",
    "CourierNew": "Courier",
    "CourierNewPSMT": "Courier",
}


@functools.lru_cache(maxsize=1)
def _standard_metrics() -> dict[str, tuple[dict[str, Any], dict[str, int]]]:
    try:
        from pdfminer.fontmetrics import FONT_METRICS
    except ImportError:  # pragma: no cover - pdfminer.six is in requirements.lock
        return {}
    return dict(FONT_METRICS)


@dataclass(frozen=True)
class SimpleFontMetrics:
    """Widths in 1/1000 em per byte code, plus ascent/descent in 1/1000 em."""

    widths: dict[int, float]
    default: float
    ascent: float
    descent: float
    composite: bool = False

    def width(self, code: int) -> float:
        return self.widths.get(code, self.default)


def _num(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def font_metrics(font: Any) -> SimpleFontMetrics:
    """Metrics of a font dictionary (``None`` or unreadable: average widths)."""
    if font is None:
        return SimpleFontMetrics({}, _DEFAULT_WIDTH, 800.0, -200.0)
    subtype = str(font.get("/Subtype", ""))
    if subtype == "/Type0":
        return SimpleFontMetrics({}, 1000.0, 800.0, -200.0, composite=True)
    descriptor = font.get("/FontDescriptor")
    descriptor = descriptor.get_object() if descriptor is not None else {}
    base = str(font.get("/BaseFont", "")).lstrip("/")
    base = base.split("+", 1)[1] if len(base) > 7 and base[6] == "+" else base
    std = _standard_metrics().get(_ALIASES.get(base, base))
    ascent = _num(descriptor.get("/Ascent"), std[0].get("Ascent", 800.0) if std else 800.0)
    descent = _num(descriptor.get("/Descent"), std[0].get("Descent", -200.0) if std else -200.0)
    widths: dict[int, float] = {}
    raw = font.get("/Widths")
    if raw is not None:
        first = int(_num(font.get("/FirstChar"), 0))
        for i, w in enumerate(raw.get_object()):
            widths[first + i] = _num(w, _DEFAULT_WIDTH)
        default = _num(descriptor.get("/MissingWidth"), 0.0) or _DEFAULT_WIDTH
    elif std is not None:
        for code in range(256):
            ch = bytes([code]).decode("cp1252", errors="replace")
            if ch in std[1]:
                widths[code] = float(std[1][ch])
        default = float(std[1].get(" ", _DEFAULT_WIDTH))
    else:
        default = _DEFAULT_WIDTH
    return SimpleFontMetrics(widths, default, ascent, min(descent, 0.0))
