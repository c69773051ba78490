"""Vietnamese legacy encodings: TCVN3 against glibc's independent converter, cp1258, NFD."""

from __future__ import annotations

import shutil
import subprocess
import unicodedata

import pytest

from gateway.adapters.encodings import (
    check_encoding,
    decode_tcvn3,
    encode_cp1258,
    encode_tcvn3,
    from_unicode_xml,
    to_utf8_xml,
)
from gateway.errors import ConfigurationError, MappingError

BASES = "aăâeêioôơuưy"
TONES = ["", "\u0301", "\u0300", "\u0309", "\u0303", "\u0323"]
LOWER = [unicodedata.normalize("NFC", b + t) for b in BASES for t in TONES] + ["đ"]
ALL_LETTERS = LOWER + [c.upper() for c in LOWER]
SAMPLE = "Ủy ban nhân dân tỉnh Nghệ An: Quyết định số 12/QĐ-UBND về việc Ấn định ĐỊA GIỚI"


def test_alphabet_is_complete() -> None:
    assert len(set(ALL_LETTERS)) == 146  # 12 vowels x 6 tones x 2 cases + đ Đ


@pytest.mark.parametrize("letter", ALL_LETTERS)
def test_tcvn3_round_trips_every_vietnamese_letter(letter: str) -> None:
    assert decode_tcvn3(encode_tcvn3(letter)) == letter


@pytest.mark.parametrize("letter", ALL_LETTERS)
def test_cp1258_round_trips_every_vietnamese_letter(letter: str) -> None:
    encoded = encode_cp1258(letter)
    assert unicodedata.normalize("NFC", encoded.decode("cp1258")) == letter


@pytest.mark.skipif(shutil.which("iconv") is None, reason="glibc iconv not installed")
def test_tcvn3_table_agrees_with_glibc_for_every_byte() -> None:
    for byte in [*range(0x01, 0x20), *range(0x80, 0x100)]:
        ref = subprocess.run(["iconv", "-f", "TCVN5712-1", "-t", "UTF-8"], input=bytes([byte]), capture_output=True)
        assert ref.returncode == 0
        assert decode_tcvn3(bytes([byte])) == unicodedata.normalize("NFC", ref.stdout.decode()), hex(byte)


def test_tcvn3_for_xml_refuses_capitals_on_control_bytes() -> None:
    assert encode_tcvn3("Ý") == b"\x16"
    with pytest.raises(UnicodeEncodeError, match=r"control byte"):
        encode_tcvn3("Ý", for_xml=True)
    assert encode_tcvn3("ý", for_xml=True) == b"\xfd"


def test_tcvn3_unknown_character_raises() -> None:
    with pytest.raises(UnicodeEncodeError):
        encode_tcvn3("€")


def test_cp1258_uses_base_letter_plus_tone_mark() -> None:
    # "ấ" is not in windows-1258: it is written as "â" (0xE2) + combining acute (0xEC).
    assert encode_cp1258("ấ") == b"\xe2\xec"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-nfd", "windows-1258", "tcvn3"])
def test_xml_round_trip_in_each_legacy_encoding(encoding: str) -> None:
    body = f"<a>{SAMPLE.replace('Ý', 'Y')}</a>"
    legacy = from_unicode_xml(body, encoding)
    back = unicodedata.normalize("NFC", to_utf8_xml(legacy, encoding).decode("utf-8"))
    assert back.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert back.endswith(unicodedata.normalize("NFC", body))


def test_utf8_input_reaches_the_parser_untouched() -> None:
    # NFD text is normalised field by field by the converters (see the cong_van_nfd fixture).
    nfd = unicodedata.normalize("NFD", f"<a>{SAMPLE}</a>").encode("utf-8")
    assert to_utf8_xml(nfd, "utf-8") is nfd


def test_single_byte_encodings_become_nfc_utf8() -> None:
    out = to_utf8_xml(encode_cp1258(f"<a>{SAMPLE}</a>"), "windows-1258").decode("utf-8")
    assert unicodedata.is_normalized("NFC", out) and SAMPLE in out


def test_utf8_nfd_output_is_decomposed() -> None:
    out = from_unicode_xml("<a>ệ</a>", "utf-8-nfd").decode("utf-8")
    assert "e\u0323\u0302" in out


def test_unwritable_character_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match=r"cannot be written in tcvn3"):
        from_unicode_xml("<a>中</a>", "tcvn3", adapter="x")


def test_encoding_names() -> None:
    assert check_encoding("CP1258") == "windows-1258"
    assert check_encoding("ABC") == "tcvn3"
    with pytest.raises(ConfigurationError, match=r"unknown legacy encoding"):
        check_encoding("koi8-r")
