"""Vietnamese text encodings that legacy systems really use, and their normalisation to NFC.

Legacy document systems store Vietnamese in one of four ways: precomposed UTF-8 (what QCVN 102
and TCVN 6909:2001 require), decomposed UTF-8 (NFD, common from macOS and some .NET stacks),
windows-1258 (which itself mixes precomposed letters with combining tone marks) or the old
TCVN3 / TCVN 5712:1993 font encoding ("ABC", .VnTime fonts) for which Python has no codec.

The adapter framework works on whole XML documents: :func:`to_utf8_xml` turns legacy bytes into
NFC UTF-8 with a matching XML declaration *before* the hardened parser sees them, and
:func:`from_unicode_xml` encodes an outgoing document back into the legacy form.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from gateway.errors import ConfigurationError, MappingContext, MappingError

# --- TCVN 5712:1993 ---------------------------------------------------------------------------
# The full VN1 table; its 0xA1-0xFF lower-case letters and the capitals Ă Â Ê Ô Ơ Ư Đ are the
# positions of the "ABC" (.VnTime) font encoding everybody calls TCVN3.  The table agrees with
# glibc's ``TCVN5712-1`` converter (tests check every byte against ``iconv``).
_TCVN_HIGH: Final = (
    "ÀẢÃÁẠẶẬÈẺẼÉẸỆÌỈĨ"  # 0x80
    "ÍỊÒỎÕÓỌỘỜỞỠỚỢÙỦŨ"  # 0x90
    "\u00a0ĂÂÊÔƠƯĐăâêôơưđẰ"  # 0xA0
    "\u0300\u0309\u0303\u0301\u0323àảãáạẲằẳẵắẴ"  # 0xB0 (five combining tone marks first)
    "ẮẦẨẪẤỀặầẩẫấậèỂẻẽ"  # 0xC0
    "éẹềểễếệìỉỄẾỒĩíịò"  # 0xD0
    "Ổỏõóọồổỗốộờởỡớợù"  # 0xE0
    "ỖủũúụừửữứựỳỷỹýỵỐ"  # 0xF0
)
# Twelve capitals live in the C0 control range; such bytes are illegal in XML 1.0 text.
_TCVN_LOW: Final = {
    0x01: "Ú", 0x02: "Ụ", 0x04: "Ừ", 0x05: "Ử", 0x06: "Ữ", 0x11: "Ứ",
    0x12: "Ự", 0x13: "Ỳ", 0x14: "Ỷ", 0x15: "Ỹ", 0x16: "Ý", 0x17: "Ỵ",
}  # fmt: skip

_TCVN_DECODE: Final[list[str]] = [chr(b) for b in range(0x80)] + list(_TCVN_HIGH)
for _byte, _char in _TCVN_LOW.items():
    _TCVN_DECODE[_byte] = _char
_TCVN_ENCODE: Final[dict[str, int]] = {c: b for b, c in enumerate(_TCVN_DECODE) if b >= 0x80 or b in _TCVN_LOW}
_TCVN_XML_UNSAFE: Final = frozenset(_TCVN_LOW.values())

_TONE_MARKS: Final = frozenset("\u0300\u0301\u0303\u0309\u0323")


def decode_tcvn3(data: bytes) -> str:
    """Decode TCVN3 (TCVN 5712:1993) bytes to NFC Unicode."""
    table = _TCVN_DECODE
    return unicodedata.normalize("NFC", "".join([table[b] for b in data]))


def _split_tone(char: str) -> tuple[str, str]:
    """Split a precomposed letter into (letter without tone mark, tone mark or "")."""
    decomposed = unicodedata.normalize("NFD", char)
    tone = "".join(c for c in decomposed if c in _TONE_MARKS)
    base = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in _TONE_MARKS))
    return base, tone


def encode_tcvn3(text: str, *, for_xml: bool = False) -> bytes:
    """Encode Unicode text to TCVN3 bytes; raise ``UnicodeEncodeError`` for what it cannot hold.

    With ``for_xml`` the twelve capitals that TCVN 5712 puts on C0 control bytes are refused,
    because those bytes would make the XML file ill-formed for every other reader.
    """
    out = bytearray()
    for pos, char in enumerate(unicodedata.normalize("NFC", text)):
        code = ord(char)
        if code < 0x80 and code not in _TCVN_LOW:
            out.append(code)
            continue
        byte = _TCVN_ENCODE.get(char)
        if byte is not None and not (for_xml and char in _TCVN_XML_UNSAFE):
            out.append(byte)
            continue
        base, tone = _split_tone(char)
        if tone and base in _TCVN_ENCODE and tone in _TCVN_ENCODE and not for_xml:
            out += bytes((_TCVN_ENCODE[base], _TCVN_ENCODE[tone]))
            continue
        reason = (
            "TCVN3 stores this capital on a control byte that XML forbids"
            if for_xml and char in _TCVN_XML_UNSAFE
            else "no TCVN3 code for this character"
        )
        raise UnicodeEncodeError("tcvn3", text, pos, pos + 1, reason)
    return bytes(out)


def encode_cp1258(text: str) -> bytes:
    """Encode to windows-1258 the way Vietnamese Windows software does: base letter + tone mark.

    Python's ``cp1258`` codec is a plain charmap, so "ấ" must first become "â" + U+0301.
    """
    out = bytearray()
    for pos, char in enumerate(unicodedata.normalize("NFC", text)):
        try:
            out += char.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        base, tone = _split_tone(char)
        try:
            out += base.encode("cp1258") + tone.encode("cp1258")
        except UnicodeEncodeError:
            raise UnicodeEncodeError("cp1258", text, pos, pos + 1, "no windows-1258 form") from None
    return bytes(out)


# --- whole XML documents ------------------------------------------------------------------------

#: Encodings an adapter manifest may declare, with the XML declaration written on output.
LEGACY_ENCODINGS: Final[dict[str, str]] = {
    "utf-8": "UTF-8",
    "utf-8-nfd": "UTF-8",
    "windows-1258": "windows-1258",
    "tcvn3": "TCVN5712-1",
    # Honour each file's own XML declaration (a vendor that writes UTF-8 and windows-1258 files
    # alike); files without one are read in the manifest's ``encoding_fallback``.
    "declared": "UTF-8",
}

_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*\?>", re.ASCII)
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""", re.ASCII)
_BOMS: Final = ((b"\xef\xbb\xbf", "UTF-8"), (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))
_UTF8_DECL = b'<?xml version="1.0" encoding="UTF-8"?>'


def check_encoding(name: str) -> str:
    """Return the canonical encoding name or raise :class:`ConfigurationError`."""
    key = name.strip().lower().replace("_", "-")
    key = {"cp1258": "windows-1258", "utf8": "utf-8", "nfd": "utf-8-nfd", "abc": "tcvn3"}.get(key, key)
    if key not in LEGACY_ENCODINGS:
        raise ConfigurationError(f"unknown legacy encoding {name!r}; expected one of {sorted(LEGACY_ENCODINGS)}")
    return key


def declared_encoding(data: bytes) -> str | None:
    """What the file itself says it is: its byte-order mark, else its XML declaration, else None."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    m = _DECLARED.match(data[:512])
    return m.group(1).decode("ascii") if m else None


def _declared_codec(name: str) -> str:
    """Our encoding key for a declared name (windows-1258, TCVN3 ...) or a Python codec name."""
    key = name.strip().lower().replace("_", "-")
    aliases = {"utf8": "utf-8", "cp1258": "windows-1258", "tcvn5712-1": "tcvn3", "tcvn-5712": "tcvn3",
               "tcvn": "tcvn3", "vn3": "tcvn3"}  # fmt: skip
    key = aliases.get(key, key)
    if key in ("utf-8", "windows-1258", "tcvn3"):
        return key
    import codecs

    try:
        return codecs.lookup(key).name
    except LookupError:
        raise UnicodeDecodeError(key, b"", 0, 0, f"the file declares an unknown encoding {name!r}") from None


def to_utf8_xml(
    data: bytes, encoding: str, *, source: str | None = None, fallback: str = "utf-8"
) -> bytes:
    """Turn a legacy XML document into NFC UTF-8 bytes with a UTF-8 declaration.

    The declared legacy encoding wins over whatever the file's own declaration says (legacy
    TCVN3 files usually claim ISO-8859-1 because the font, not the codec, made them Vietnamese).
    Plain UTF-8 input that is already NFC is returned unchanged (the hot path). With
    ``declared`` the file's own declaration (or BOM) decides, and ``fallback`` covers files
    that declare nothing.
    """
    if encoding == "declared":
        declared = declared_encoding(data)
        encoding = _declared_codec(declared) if declared else fallback
        if encoding not in ("utf-8", "utf-8-nfd", "windows-1258", "tcvn3"):
            text = unicodedata.normalize("NFC", data.decode(encoding, errors="strict"))
            text = text.lstrip("\ufeff")
            body = _DECLARATION.sub(b"", text.encode("utf-8"), count=1)
            return _UTF8_DECL + body
        if encoding == "utf-8" and data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
    if encoding in ("utf-8", "utf-8-nfd"):
        # The bytes go to the parser as they are: libxml2 rejects invalid UTF-8 with a line number,
        # and every extracted string is normalised to NFC by its converter, so decomposed input
        # costs nothing here (this is the hot path of every UTF-8 adapter).
        return data
    if encoding == "windows-1258":
        text = unicodedata.normalize("NFC", data.decode("cp1258", errors="strict"))
    elif encoding == "tcvn3":
        text = decode_tcvn3(data)
    else:  # pragma: no cover - check_encoding guards the manifest
        raise ConfigurationError(f"unknown legacy encoding {encoding!r}")
    body = _DECLARATION.sub(b"", text.encode("utf-8"), count=1)
    return _UTF8_DECL + body


def from_unicode_xml(xml_text: str, encoding: str, *, adapter: str | None = None) -> bytes:
    """Encode an outgoing XML document (without declaration) into the legacy encoding."""
    decl = f'<?xml version="1.0" encoding="{LEGACY_ENCODINGS[encoding]}"?>\n'
    try:
        if encoding in ("utf-8", "declared"):
            return (decl + unicodedata.normalize("NFC", xml_text)).encode("utf-8")
        if encoding == "utf-8-nfd":
            return (decl + unicodedata.normalize("NFD", xml_text)).encode("utf-8")
        if encoding == "windows-1258":
            return decl.encode("ascii") + encode_cp1258(xml_text)
        return decl.encode("ascii") + encode_tcvn3(xml_text, for_xml=True)
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end]
        raise MappingError(
            f"character {bad!r} (U+{ord(bad[0]):04X}) cannot be written in {encoding}: {exc.reason}",
            context=MappingContext(adapter=adapter),
        ) from exc


__all__ = [
    "LEGACY_ENCODINGS",
    "check_encoding",
    "declared_encoding",
    "decode_tcvn3",
    "encode_cp1258",
    "encode_tcvn3",
    "from_unicode_xml",
    "to_utf8_xml",
]
