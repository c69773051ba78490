"""``lienthong adapters check``'s deeper look: what will fail or lose data only at run time.

Loading an adapter proves its manifest, mapping and paths. It does not prove that the reverse
direction can write a valid legacy document (a wrapper without its required attributes, a
required legacy element no edXML field feeds) or that values survive the trip (a priority with
no vendor word cannot go back; a date-time legacy field read into a date field loses its time).
:func:`dry_run` writes the bundled sample packages through the reverse mapping and inspects the
code tables and date fields, returning findings an integrator can act on before go-live.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.adapters.adapter import Adapter
from gateway.adapters.converters import DateConverter, TableConverter
from gateway.adapters.mapping import CompiledField, KindMapping
from gateway.edxml.model import EdocPackage, StatusPackage
from gateway.errors import GatewayError

# The values each coded edXML field can take (QCVN 102:2016; see docs/edxml.md).
DOMAINS: dict[str, tuple[Any, ...]] = {
    "other.priority": (0, 1, 2, 3, 4),
    "steering_type": (0, 1, 2),
    "status_code": ("01", "02", "03", "04", "05", "06", "13", "15", "16"),
}
_PRIORITY_WORDS = {0: "thường", 1: "khẩn", 2: "thượng khẩn", 3: "hỏa tốc", 4: "hỏa tốc hẹn giờ"}


@dataclass(frozen=True)
class Finding:
    """One thing ``check`` found: ``error`` (a run will fail) or ``warning`` (data may be lost)."""

    level: str
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: [{self.kind}] {self.message}"


def dry_run(adapter: Adapter) -> list[Finding]:
    """Every finding for one loaded adapter (reverse pass, code tables, date fields)."""
    findings: list[Finding] = []
    for km in adapter.mapping.kinds.values():
        findings += _tables(km)
        findings += _dates(adapter, km)
    if "to_legacy" in adapter.manifest.directions:
        findings += _reverse(adapter)
    return findings


def _fields(km: KindMapping) -> list[tuple[str, CompiledField]]:
    out = [(f.target, f) for f in km.fields]
    out += [(f"{g.name}.{f.target}", f) for g in km.groups for f in g.fields]
    return out


def _tables(km: KindMapping) -> list[Finding]:
    found: list[Finding] = []
    for target, f in _fields(km):
        conv = f.converter
        domain = DOMAINS.get(target)
        if not isinstance(conv, TableConverter) or domain is None or not f.reverse:
            continue
        inverse: dict[Any, str] = conv._inverse  # type: ignore[attr-defined]
        missing = [v for v in domain if TableConverter._norm(conv.coerce(v)) not in inverse]
        if missing:
            named = ", ".join(
                f"{v} ({_PRIORITY_WORDS[v]})" if target == "other.priority" and v in _PRIORITY_WORDS else str(v)
                for v in missing
            )
            message = (
                f"{km.kind} {target}: table {conv.name} has no legacy word for {named}; "
                "a package with that value cannot be written back (add it to the table)"
            )
            found.append(Finding("warning", "table", message))
    return found


def _dates(adapter: Adapter, km: KindMapping) -> list[Finding]:
    found: list[Finding] = []
    for target, f in _fields(km):
        conv = f.converter
        if not isinstance(conv, DateConverter) or f.path is None:
            continue
        where = f"{km.kind} {target}: pattern {conv.pattern}"
        if not conv.with_time and any(t in conv.pattern for t in ("HH", "mm", "ss")):
            text = f"{where} carries a time but the edXML field is a date; the time is dropped (noted per document)"
            found.append(Finding("warning", "date", text))
        if conv.with_time and "HH" not in conv.pattern:
            text = f"{where} has no time of day; 00:00:00 is written into the edXML date-time (noted per document)"
            found.append(Finding("warning", "date", text))
    return found


def _reverse(adapter: Adapter) -> list[Finding]:
    from gateway.edxml.samples import sample_edoc, sample_status

    found: list[Finding] = []
    samples: dict[str, EdocPackage | StatusPackage] = {"edoc": sample_edoc(), "status": sample_status()}
    for kind in adapter.mapping.kinds:
        try:
            adapter.to_legacy(samples[kind])
        except GatewayError as exc:
            found.append(Finding("error", "reverse", f"{kind}: writing the sample package back fails: {exc}"))
    return found


__all__ = ["DOMAINS", "Finding", "dry_run"]
