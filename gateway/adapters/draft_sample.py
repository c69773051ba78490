"""Reading a sample legacy file for drafting: its document element and the schema's repeated paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lxml import etree

from gateway.adapters import mime
from gateway.adapters.draft import Draft, Leaf, draft_mapping, fold
from gateway.adapters.draft_render import DraftScore, score_draft
from gateway.adapters.encodings import to_utf8_xml
from gateway.adapters.schema import LegacySchema
from gateway.errors import ConfigurationError
from gateway.xml import parse_xml


def repeated_paths(decl: Any) -> set[str]:
    """Local-name paths (relative to ``decl``) of every element the schema lets repeat."""
    found: set[str] = set()

    def walk(node: Any, prefix: tuple[str, ...], depth: int) -> None:
        content = getattr(getattr(node, "type", None), "content", None)
        if content is None or depth > 12 or not hasattr(content, "iter_elements"):
            return
        for child in content.iter_elements():
            name = getattr(child, "local_name", None)
            if not name:
                continue
            path = (*prefix, name)
            if child.max_occurs is None or child.max_occurs > 1:
                found.add("/".join(path))
            walk(child, path, depth + 1)

    walk(decl, (), 0)
    return found


def declared_leaves(decl: Any, nsmap: dict[str | None, str]) -> list[Leaf]:
    """Every element and attribute place the schema declares under ``decl``, in the file's prefixes.

    A repeated element is listed once more as ``PATH/*`` so the drafter keeps its children for
    the group it belongs to.
    """
    by_ns = {ns: p for p, ns in nsmap.items()}
    found: list[Leaf] = []

    def name_of(clark: str) -> str:
        q = etree.QName(clark)
        prefix = by_ns.get(q.namespace) if q.namespace else None
        return f"{prefix}:{q.localname}" if prefix else q.localname

    def walk(node: Any, steps: list[str], names: list[str], depth: int) -> None:
        for attr_name, attr in (getattr(node, "attributes", {}) or {}).items():
            if attr_name:
                local = etree.QName(attr_name).localname
                path = "/".join([*steps, "@" + name_of(attr_name) if "}" in attr_name else f"@{local}"])
                found.append(Leaf(path, fold(local), tuple(reversed(names)), "", _type_name(attr)))
        xtype = getattr(node, "type", None)
        content = getattr(xtype, "content", None)
        if xtype is not None and steps and (xtype.is_simple() or xtype.has_simple_content()):
            found.append(Leaf("/".join(steps), names[-1], tuple(reversed(names[:-1])), "", _type_name(node)))
        if content is None or depth > 12 or not hasattr(content, "iter_elements"):
            return
        for child in content.iter_elements():
            if not getattr(child, "local_name", None) or not getattr(child, "name", None):
                continue
            child_steps = [*steps, name_of(child.name)]
            if child.max_occurs is None or child.max_occurs > 1:
                found.append(Leaf("/".join([*child_steps, "*"]), "", (), ""))
            walk(child, child_steps, [*names, fold(child.local_name)], depth + 1)

    walk(decl, [], [], 0)
    return found


def _type_name(node: Any) -> str:
    xtype = getattr(node, "type", None)
    seen = 0
    while xtype is not None and seen < 8:
        name = getattr(xtype, "local_name", None)
        if name in ("date", "dateTime", "base64Binary", "int", "integer", "string"):
            return str(name)
        xtype = getattr(xtype, "base_type", None)
        seen += 1
    return ""


def sample_record(sample: Path, element: str, *, encoding: str = "declared") -> etree._Element:
    """The first element of ``sample`` named like the last step of ``element``."""
    data = sample.read_bytes()
    if data.lstrip().startswith(b"MIME-Version") or b"multipart/related" in data[:400]:
        data, _parts = mime.split_related(data, source=str(sample))
    root = parse_xml(to_utf8_xml(data, encoding), source=str(sample))
    local = element.strip("/").split("/")[-1].split(":")[-1]
    for el in root.iter():
        if isinstance(el.tag, str) and etree.QName(el).localname == local:
            return el
    raise ConfigurationError(f"{sample}: no <{local}> element to draft from")


def draft_from(schema: LegacySchema, element: str, sample: Path) -> Draft:
    """A draft for ``element`` of ``schema`` from one sample file."""
    record = sample_record(sample, element)
    # The element path in the sample's own prefixes (the mapping's [namespaces] are the sample's).
    ns = etree.QName(record).namespace
    prefix = next((p for p, uri in record.nsmap.items() if uri == ns and p), None) if ns else None
    steps = [step.rpartition(":")[2] for step in element.strip("/").split("/") if step]
    written = "/".join(f"{prefix}:{step}" if prefix else step for step in steps)
    namespaces = {("" if p is None else p): uri for p, uri in record.nsmap.items()}
    decl = schema.declaration(written, namespaces)
    return draft_mapping(record, written, repeated_paths=repeated_paths(decl),
                         declared=declared_leaves(decl, dict(record.nsmap)))  # fmt: skip


def draft_for_adapter(folder: Path) -> tuple[DraftScore, Path]:
    """Draft a bundled adapter's edoc mapping from its first fixture and score it against the real one."""
    from gateway.adapters.adapter import Adapter
    from gateway.adapters.manifest import load_manifest

    adapter = Adapter(load_manifest(folder))
    km = adapter.mapping.kinds["edoc"]
    fixtures = sorted(p for p in adapter.manifest.fixtures.iterdir() if ".in." in p.name and "_errors" not in p.name
                      and not p.name.endswith(".edxml"))  # fmt: skip
    for sample in fixtures:
        try:
            record = sample_record(sample, km.element_key, encoding=adapter.manifest.encoding)
        except ConfigurationError:
            continue
        if km.matches(record):
            namespaces = dict(adapter.mapping.namespaces)
            decl = adapter.schema.declaration(km.element_key, namespaces)
            draft = draft_mapping(record, km.element_key, repeated_paths=repeated_paths(decl),
                                  declared=declared_leaves(decl, dict(record.nsmap)))  # fmt: skip
            return score_draft(draft, km), sample
    raise ConfigurationError(f"{folder}: no edoc fixture to draft from")


__all__ = ["declared_leaves", "draft_for_adapter", "draft_from", "repeated_paths", "sample_record"]
