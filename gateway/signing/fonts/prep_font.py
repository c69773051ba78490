"""Prepare the serif font the signing stamps embed (run by hand; its output is committed).

Source: Liberation Serif Regular 2.x (SIL OFL 1.1, metric-compatible with Times New Roman;
Debian package ``fonts-liberation2``). Three steps, each for a measured reason
(docs/toolchain-notes.md §3):

1. subset to Latin + Vietnamese + common punctuation, **without hinting** (scaling a hinted
   font garbles glyphs), which also makes every stamp smaller and faster to embed;
2. scale to 1000 units per em, because pyHanko writes ``/W`` widths in font units and a
   2048-unit font renders with about double letter spacing;
3. rename the family: the OFL forbids modified versions from using the Reserved Font Names
   ("Liberation", "Tinos"), so the derivative is called "Lienthong Serif".

Usage: ``python gateway/signing/fonts/prep_font.py [SOURCE_TTF]``
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont
from fontTools.ttLib.scaleUpem import scale_upem

SOURCE = Path("/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf")
OUT = Path(__file__).resolve().parent / "LienthongSerif-Regular.ttf"
FAMILY = "Lienthong Serif"

#: Latin-1, the Latin Extended letters Vietnamese needs, combining marks, Vietnamese precomposed
#: letters (U+1EA0-U+1EF9), general punctuation and a few symbols used in references (№, °, ‰).
UNICODES = [
    *range(0x20, 0x7F),
    *range(0xA0, 0x100),
    0x102,
    0x103,
    0x110,
    0x111,
    0x128,
    0x129,
    0x168,
    0x169,
    0x1A0,
    0x1A1,
    0x1AF,
    0x1B0,
    *range(0x300, 0x305),
    0x306,
    0x309,
    0x323,
    *range(0x1EA0, 0x1EFA),
    *range(0x2010, 0x2027),
    0x2030,
    0x2116,
    0x20AB,
]


def prepare(source: Path = SOURCE, out: Path = OUT) -> Path:
    """Subset, scale and rename ``source`` into ``out``; returns ``out``."""
    font = TTFont(str(source))
    options = subset.Options()
    options.hinting = False
    options.desubroutinize = True
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.layout_features = ["*"]
    subsetter = subset.Subsetter(options=options)
    subsetter.populate(unicodes=UNICODES)
    subsetter.subset(font)
    scale_upem(font, 1000)
    name = font["name"]
    for record in list(name.names):
        if record.nameID in (1, 4, 16, 21):
            name.setName(
                FAMILY if record.nameID != 4 else FAMILY + " Regular",
                record.nameID,
                record.platformID,
                record.platEncID,
                record.langID,
            )
        elif record.nameID in (3, 6, 20):
            name.setName("LienthongSerif-Regular", record.nameID, record.platformID, record.platEncID, record.langID)
    font.save(str(out))
    return out


if __name__ == "__main__":
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE
    print(prepare(src))
