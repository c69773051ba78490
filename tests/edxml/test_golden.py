"""Golden files the builder never wrote: hand-written packages in the shapes real senders emit,
each checked byte for byte against a hand-written canonical form (see golden/README.md)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import re
import zipfile
from pathlib import Path

import pytest

from gateway.edxml import build_package, parse_package

GOLDEN = Path(__file__).parents[1] / "fixtures" / "edxml" / "golden"
CASES = sorted(p.name.removesuffix(".edxml") for p in GOLDEN.glob("*.edxml") if ".canonical." not in p.name)
# a zipped attachment is re-zipped by the builder; the expected file names its entry and content
ZIP_MARK = re.compile(rb"@ZIP (\S+) ([0-9a-f]{64})@")
ENCODED = re.compile(rb"(<edXML:ContentTransferEncoded [^>]*>)([^<]*)(</edXML:ContentTransferEncoded>)")


def _resolve_zips(expected: bytes, actual: bytes) -> bytes:
    """Replace each ``@ZIP entry sha256@`` in ``expected`` by the actual base64, once it is checked."""
    actual_payloads = [m.group(2) for m in ENCODED.finditer(actual)]
    out = expected
    for i, m in enumerate(ENCODED.finditer(expected)):
        mark = ZIP_MARK.fullmatch(m.group(2))
        if mark is None:
            continue
        encoded = actual_payloads[i]
        with zipfile.ZipFile(io.BytesIO(base64.b64decode(encoded, validate=True))) as zf:
            (entry,) = zf.infolist()
            assert entry.filename == mark.group(1).decode()
            assert hashlib.sha256(zf.read(entry)).hexdigest() == mark.group(2).decode()
        out = out.replace(m.group(2), encoded, 1)
    return out


def _sig_stripped(pkg):  # type: ignore[no-untyped-def]
    """The reader keeps the whitespace after a package Signature in ``signature_xml``; ignore it."""
    if getattr(pkg, "signature_xml", None):
        return dataclasses.replace(pkg, signature_xml=pkg.signature_xml.strip())
    return pkg


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 5, CASES


@pytest.mark.parametrize("name", CASES)
def test_golden_package_builds_to_its_hand_written_canonical_form(name: str) -> None:
    result = parse_package(GOLDEN / f"{name}.edxml")
    actual = build_package(result.package)
    expected = _resolve_zips((GOLDEN / f"{name}.canonical.edxml").read_bytes(), actual)
    assert actual.decode() == expected.decode()  # readable diff on failure
    assert actual == expected  # and byte for byte


@pytest.mark.parametrize("name", CASES)
def test_golden_package_reports_exactly_the_expected_warnings(name: str) -> None:
    result = parse_package(GOLDEN / f"{name}.edxml")
    expected = [line for line in (GOLDEN / f"{name}.warnings.txt").read_text(encoding="utf-8").splitlines() if line]
    assert list(result.warnings) == expected


@pytest.mark.parametrize("name", CASES)
def test_the_canonical_form_is_a_fixed_point(name: str) -> None:
    """Read back, the canonical form gives the same package and bytes; it keeps no tolerated form
    except an absent Bussiness block, which the builder preserves rather than invents."""
    first = parse_package(GOLDEN / f"{name}.edxml")
    canonical = build_package(first.package)
    again = parse_package(canonical)
    assert set(again.warnings) <= {"Bussiness block is missing; treated as a new document (type 0)"}
    assert set(again.warnings) <= set(first.warnings)
    assert _sig_stripped(again.package) == _sig_stripped(first.package)
    assert build_package(again.package) == canonical
