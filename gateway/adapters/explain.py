"""``lienthong translate --explain``: where every edXML field of one document came from.

For each mapped field the explanation names the legacy path (in the document's own prefixes),
the line, the raw legacy text, the converter that turned it into the edXML value (with its
format or table), and whether a default, a constant or an alternative path was used. It reads
the document a second time, field by field, so it is for people reviewing a mapping, not for
the hot path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from gateway.adapters.adapter import Adapter
from gateway.adapters.converters import ConversionError, ConvertContext, DateConverter, TableConverter
from gateway.adapters.extract import line_of, readable_path
from gateway.adapters.mapping import CompiledField, KindMapping, LegacyPath


@dataclass(frozen=True)
class FieldExplanation:
    """One edXML field of one document and how it was produced."""

    target: str
    legacy_path: str | None  # relative to the document element (or to the group item), file's prefixes
    line: int | None
    legacy_text: str | None
    converter: str
    value: str | None
    source: str  # "path", "alternative path", "default", "constant", "missing", "error"
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_converter(f: CompiledField) -> str:
    conv = f.converter
    if isinstance(conv, DateConverter):
        shapes = " | ".join((conv.pattern, *conv.alternatives))
        return f"{'datetime' if conv.with_time else 'date'}({shapes})"
    if isinstance(conv, TableConverter):
        return f"table({conv.name})"
    inner = getattr(conv, "inner", None)
    if inner is not None:  # a coded field (priority, status ...) read as a number
        conv = inner
    name = type(conv).__name__.removesuffix("Converter").lstrip("_").lower()
    return name or "text"


def _show(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    text = str(getattr(value, "value", value)) if hasattr(value, "value") and not isinstance(value, str) else str(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _read(path: LegacyPath, node: etree._Element) -> tuple[etree._Element | None, str | None]:
    found = node.find(path.find) if path.find else node
    if found is None:
        return None, None
    text = found.get(path.attr) if path.attr else found.text
    return found, (text if text and not text.isspace() else None)


def _explain_field(f: CompiledField, node: etree._Element, ctx: ConvertContext, prefix: str) -> FieldExplanation:
    target = f"{prefix}{f.target}"
    conv = describe_converter(f)
    if f.path is None:
        value = f.const if f.const is not None else f.default
        return FieldExplanation(target, None, None, None, conv, _show(value), "constant")
    candidates = [(f.path, "path"), *((alt, "alternative path") for alt in f.alternatives)]
    for path, how in candidates:
        found, text = _read(path, node)
        if text is None:
            continue
        where = readable_path(path, node)
        start = len(ctx.notes)
        try:
            value = f.converter.to_edxml(text, ctx)
        except ConversionError as exc:
            return FieldExplanation(target, where, line_of(found) if found is not None else None, text, conv, None,
                                    "error", str(exc))  # fmt: skip
        note = "; ".join(ctx.notes[start:])
        line = line_of(found) if found is not None else None
        return FieldExplanation(target, where, line, text.strip(), conv, _show(value), how, note)
    where = readable_path(f.path, node)
    if f.const is not None or f.default is not None:
        value = f.const if f.const is not None else f.default
        return FieldExplanation(target, where, None, None, conv, _show(value), "default")
    return FieldExplanation(target, where, None, None, conv, None, "missing")


def explain_record(
    adapter: Adapter,
    record: etree._Element,
    km: KindMapping,
    *,
    parts: Mapping[str, bytes] | None = None,
    base_dir: Path | None = None,
) -> list[FieldExplanation]:
    """Every mapped field of one legacy document element, in mapping order."""
    ctx = ConvertContext(organs=adapter.organs, parts=parts or {}, base_dir=base_dir)
    out = [_explain_field(f, record, ctx, "") for f in km.fields]
    for g in km.groups:
        items = record.findall(g.path.find) if g.path.find else [record]
        for i, el in enumerate(items, start=1):
            ctx.item_index = i - 1
            out += [_explain_field(f, el, ctx, f"{g.name}[{i}].") for f in g.fields]
    return out


def explain_bytes(
    adapter: Adapter, data: bytes, *, source: str | None = None, index: int = 1, base_dir: Path | None = None
) -> list[FieldExplanation]:
    """The explanation of document ``index`` (1-based) of one legacy input."""
    from gateway.adapters import mime
    from gateway.adapters.encodings import to_utf8_xml
    from gateway.xml import parse_xml

    parts: Mapping[str, bytes] = {}
    if adapter.manifest.container == "mime":
        data, parts = mime.split_related(data, source=source)
    root = parse_xml(to_utf8_xml(data, adapter.manifest.encoding, fallback=adapter.manifest.encoding_fallback),
                     source=source)  # fmt: skip
    records = list(adapter.records(root))
    if not 1 <= index <= len(records):
        from gateway.errors import MappingError

        raise MappingError(f"{source or 'input'} holds {len(records)} document(s); document {index} does not exist")
    record, km = records[index - 1]
    return explain_record(adapter, record, km, parts=parts, base_dir=base_dir)


__all__ = ["FieldExplanation", "describe_converter", "explain_bytes", "explain_record"]
