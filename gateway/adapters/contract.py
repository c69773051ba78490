"""The contract kit: the checks every adapter folder must pass, driven by its fixtures.

File names state the expectation (xmlschema's habit):

* ``NAME.in.xml`` (``.in.mime`` for MIME containers) translates without error, validates against
  the edXML XSD and equals ``NAME.expected.edxml`` (canonical XML, whitespace-insensitive); the
  package then round-trips: package → legacy → package gives the same model.
* ``NAME.in.edxml`` translates to legacy and equals ``NAME.expected.xml`` (canonical XML).
* ``NAME-N_errors.xml`` gives exactly N errors.

``lienthong adapters test`` and the test suite run the same kit, so a new adapter brings its
tests with it.  ``update=True`` writes missing/changed expected files (review them!).
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.adapters.adapter import Adapter
from gateway.edxml import parse_package
from gateway.errors import GatewayError
from gateway.xml import XmlLimits, parse_xml

_ERRORS = re.compile(r"-(\d+)_errors\.(xml|mime)$")
_LIMITS = XmlLimits(max_bytes=256 * 1024 * 1024)


@dataclass(frozen=True)
class ContractCheck:
    """One check of the kit: which fixture, which aspect, pass or fail and why."""

    adapter: str
    fixture: str
    check: str
    ok: bool
    detail: str = ""

    def __str__(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        return f"{mark} {self.adapter} {self.fixture} [{self.check}]" + (f": {self.detail}" if self.detail else "")


def canonical(data: bytes, *, source: str) -> bytes:
    """C14N 2.0 with insignificant white space stripped, after a hardened parse."""
    from lxml import etree

    root = parse_xml(data, source=source, limits=_LIMITS)
    tostring: Any = etree.tostring  # lxml-stubs lack the C14N 2.0 keywords
    return bytes(tostring(root, method="c14n2", strip_text=True))


def _first_difference(a: bytes, b: bytes) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            got, want = a[max(0, i - 30) : i + 30], b[max(0, i - 30) : i + 30]
            return f"first difference at byte {i}: got {got!r}, expected {want!r}"
    return f"lengths differ ({len(a)} vs {len(b)} bytes)"


def run_contract(adapter: Adapter, *, update: bool = False) -> list[ContractCheck]:
    """Run every check of the kit on one adapter's fixtures."""
    code = adapter.code
    folder = adapter.manifest.fixtures
    checks: list[ContractCheck] = []
    if not folder.is_dir():
        return [ContractCheck(code, str(folder), "fixtures", False, "fixtures folder is missing")]
    inputs = sorted([*folder.glob("*.in.xml"), *folder.glob("*.in.mime")])
    if not inputs:
        checks.append(ContractCheck(code, folder.name, "fixtures", False, "no *.in.xml fixture"))
    for path in inputs:
        checks += _forward(adapter, path, update)
    for path in sorted(folder.glob("*.in.edxml")):
        checks += _reverse(adapter, path, update)
    for path in sorted(p for p in folder.iterdir() if _ERRORS.search(p.name)):
        match = _ERRORS.search(path.name)
        assert match is not None
        want = int(match.group(1))
        results = adapter.translate_bytes(path.read_bytes(), source=path.name, base_dir=path.parent)
        got = sum(len(r.errors) for r in results)
        detail = (
            ""
            if got == want
            else f"expected {want} errors, got {got}: " + "; ".join(str(e) for r in results for e in r.errors)
        )
        checks.append(ContractCheck(code, path.name, "errors", got == want, detail))
    return checks


def _forward(adapter: Adapter, path: Path, update: bool) -> list[ContractCheck]:
    """One input fixture: one document (``NAME.expected.edxml``) or a batch (``NAME.expected-N.edxml``)."""
    code, name = adapter.code, path.name
    results = adapter.translate_bytes(path.read_bytes(), source=name, base_dir=path.parent)
    bad = [str(e) for r in results for e in r.errors]
    if bad or not results:
        detail = "; ".join(bad) if bad else "no document found in the fixture"
        return [ContractCheck(code, name, "translate", False, detail)]
    warned = [str(w) for r in results for w in r.warnings]
    note = f"warnings: {'; '.join(warned)}" if warned else ""
    out = [ContractCheck(code, name, "translate+validate", True, note)]
    stem = name.rsplit(".in.", 1)[0]
    batch = len(results) > 1
    for number, result in enumerate(results, start=1):
        assert result.edxml is not None and result.package is not None
        expected = path.with_name(f"{stem}.expected-{number}.edxml" if batch else f"{stem}.expected.edxml")
        label = f"{name}#{number}" if batch else name
        stale = not expected.exists() or canonical(expected.read_bytes(), source=expected.name) != canonical(
            result.edxml, source=name
        )
        if update and stale:
            if result.warnings:
                # An expected file is a promise of clean output: never bless a lenient read.
                said = "; ".join(map(str, result.warnings))
                detail = f"not written: the document was accepted with warnings ({said})"
                out.append(ContractCheck(code, label, "expected", False, detail))
                continue
            expected.write_bytes(result.edxml)
        if not expected.exists():
            out.append(ContractCheck(code, label, "expected", False, f"{expected.name} missing (run with --update)"))
        else:
            got = canonical(result.edxml, source=name)
            want = canonical(expected.read_bytes(), source=expected.name)
            out.append(
                ContractCheck(code, label, "expected", got == want, "" if got == want else _first_difference(got, want))
            )
        if "to_legacy" in adapter.manifest.directions:
            out.append(_round_trip(adapter, label, result.package))
    return out


def _round_trip(adapter: Adapter, name: str, package: object) -> ContractCheck:
    from gateway.adapters.adapter import Package

    assert isinstance(package, Package)
    try:
        legacy = adapter.to_legacy(package)
        with tempfile.TemporaryDirectory(prefix="lienthong-roundtrip-") as tmp:
            base = Path(tmp)
            for rel, content in legacy.files.items():
                (base / rel).parent.mkdir(parents=True, exist_ok=True)
                (base / rel).write_bytes(content)
            again = adapter.translate_bytes(legacy.data, source=f"{name} (round trip)", base_dir=base, build=False)
    except GatewayError as exc:
        return ContractCheck(adapter.code, name, "round-trip", False, str(exc))
    if len(again) != 1 or not again[0].ok:
        return ContractCheck(
            adapter.code, name, "round-trip", False, "; ".join(str(e) for r in again for e in r.errors)
        )
    same = again[0].package == package
    return ContractCheck(
        adapter.code,
        name,
        "round-trip",
        same,
        "" if same else "package differs after legacy → edXML → legacy → edXML",
    )


def _reverse(adapter: Adapter, path: Path, update: bool) -> list[ContractCheck]:
    code, name = adapter.code, path.name
    try:
        package = parse_package(path.read_bytes(), source_name=name).package
        legacy = adapter.to_legacy(package)
    except GatewayError as exc:
        return [ContractCheck(code, name, "to-legacy", False, str(exc))]
    stem = name.rsplit(".in.", 1)[0]
    suffix = ".expected.mime" if adapter.manifest.container == "mime" else ".expected.xml"
    expected = path.with_name(stem + suffix)
    if update and (not expected.exists() or expected.read_bytes() != legacy.data):
        expected.write_bytes(legacy.data)
    if not expected.exists():
        return [ContractCheck(code, name, "to-legacy", False, f"{expected.name} missing (run with --update)")]
    if adapter.manifest.container == "mime":
        same = legacy.data == expected.read_bytes()
        return [ContractCheck(code, name, "to-legacy", same, "" if same else "MIME output differs")]
    got = canonical(legacy.data, source=name)
    want = canonical(expected.read_bytes(), source=expected.name)
    return [ContractCheck(code, name, "to-legacy", got == want, "" if got == want else _first_difference(got, want))]


__all__ = ["ContractCheck", "canonical", "run_contract"]
