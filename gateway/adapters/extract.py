"""The forward hot path: pull a mapping's fields out of one validated legacy document element.

Creating a Python proxy for every lxml element costs about a microsecond, which dominated the
first version of this module.  So the mapping is compiled once more, into one XPath per field set:
``concat(string(p1), SEP, string(p2), …)`` evaluates in C and returns every single-valued field of
a document (or of one group item) as a single string.  Fields that need node sets (repeated
targets) or the document element itself go through :class:`_ChildIndex`.  Locations (line, path)
are only computed for fields that fail, by a slow second look.

Semantics: a field's legacy text is the XPath string-value of the first node at its path (for
the leaf elements legacy schemas use, the element's text); an empty or blank value counts as
missing, so ``default``/``const``/``required`` apply.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Final

from lxml import etree

from gateway.adapters import converters as cv
from gateway.adapters.mapping import CompiledField, KindMapping, LegacyPath
from gateway.adapters.targets import EDOC_REQUIRED, GROUP_REQUIRED, STATUS_REQUIRED, Extracted

_EDOC_REQ: Final = frozenset(EDOC_REQUIRED)
_STATUS_REQ: Final = frozenset(STATUS_REQUIRED)
_GROUP_REQ: Final = {name: frozenset(fields) for name, fields in GROUP_REQUIRED.items()}

SEP: Final = "\ue000"  # a private-use character; a value containing it falls back to the slow path


def line_of(el: etree._Element) -> int | None:
    """The source line of an element (lxml-stubs type it loosely)."""
    line = el.sourceline
    return line if isinstance(line, int) else None


def prefix_path(node: etree._Element) -> str:
    """A readable path of an element (local names, positions when repeated) for error reports."""
    names: list[str] = []
    el: etree._Element | None = node
    while el is not None:
        tag = el.tag
        if isinstance(tag, str):
            # The prefix the file itself uses, so paths read like the document (and like the
            # schema's messages, which xmlschema writes with the file's prefixes).
            local = etree.QName(tag).localname
            if el.prefix:
                local = f"{el.prefix}:{local}"
            parent = el.getparent()
            if parent is not None:
                same = [c for c in parent if c.tag == tag]
                if len(same) > 1:
                    local = f"{local}[{same.index(el) + 1}]"
            names.append(local)
        el = el.getparent()
    return "/" + "/".join(reversed(names)) + "/"


@dataclass(frozen=True)
class FieldProblem:
    """A field that could not be translated in one document."""

    target: str
    legacy_path: str
    line: int | None
    message: str


class _ChildIndex:
    """Children of each visited element grouped by tag (for node-set fields and group elements)."""

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: dict[etree._Element, dict[Any, list[etree._Element]]] = {}

    def children(self, el: etree._Element) -> dict[Any, list[etree._Element]]:
        found = self._cache.get(el)
        if found is None:
            found = {}
            for child in el:  # comments/PIs land under their (non-str) tag and are never asked for
                bucket = found.get(child.tag)
                if bucket is None:
                    found[child.tag] = [child]
                else:
                    bucket.append(child)
            self._cache[el] = found
        return found

    def resolve(self, el: etree._Element, tags: tuple[str, ...]) -> list[etree._Element]:
        """Every element at ``tags`` under ``el``, in document order (``findall`` semantics)."""
        nodes = [el]
        for tag in tags:
            step = [c for node in nodes for c in self.children(node).get(tag, ())]
            if not step:
                return step
            nodes = step
        return nodes


class _FieldPlan:
    """One compiled ``concat(string(...), SEP, ...)`` XPath for a set of single-valued fields.

    lxml's XPath objects must not be shared between threads, so each thread compiles its own.
    """

    def __init__(self, fields: tuple[CompiledField, ...]):
        self.fields = fields
        args = [f"string({_xpath(f.path)})" for f in fields if f.path is not None]
        if len(args) == 1:
            args.append("''")
        self._expr = "concat(" + f", '{SEP}', ".join(args) + ")" if args else ""
        with _NS_LOCK:
            self._namespaces = {prefix: ns for ns, prefix in _NS_PREFIXES.items()}
        self._local = threading.local()
        self(None)  # compile now: a bad expression is a configuration problem, not a runtime one

    def __call__(self, node: etree._Element | None) -> list[str] | None:
        xp = getattr(self._local, "xpath", None)
        if xp is None and self._expr:
            xp = self._local.xpath = etree.XPath(self._expr, namespaces=self._namespaces)
        if node is None or xp is None:
            return None
        parts = str(xp(node)).split(SEP)
        return parts if len(parts) == len(self.fields) else None


_NS_PREFIXES: dict[str, str] = {}  # namespace → XPath prefix, shared by every plan
_NS_LOCK = threading.Lock()


def _qname(clark: str) -> str:
    if not clark.startswith("{"):
        return clark
    ns, _, local = clark[1:].partition("}")
    with _NS_LOCK:
        prefix = _NS_PREFIXES.get(ns)
        if prefix is None:
            prefix = _NS_PREFIXES[ns] = f"n{len(_NS_PREFIXES)}"
    return f"{prefix}:{local}"


def _xpath(path: LegacyPath) -> str:
    steps = [_qname(t) for t in path.tags]
    if path.attr:
        steps.append("@" + _qname(path.attr))
    return "/".join(steps) if steps else "."


class _NodesPlan:
    """A compiled XPath returning the elements of a group (thread-local, like :class:`_FieldPlan`)."""

    def __init__(self, path: LegacyPath):
        self._expr = _xpath(path)
        with _NS_LOCK:
            self._namespaces = {prefix: ns for ns, prefix in _NS_PREFIXES.items()}
        self._local = threading.local()

    def __call__(self, node: etree._Element) -> list[etree._Element]:
        xp = getattr(self._local, "xpath", None)
        if xp is None:
            xp = self._local.xpath = etree.XPath(self._expr, namespaces=self._namespaces)
        found = xp(node)
        return [el for el in found if isinstance(el, etree._Element)] if isinstance(found, list) else []


@dataclass(frozen=True)
class _KindPlan:
    fast: _FieldPlan  # single-valued fields of the document element with a non-empty path
    slow: tuple[CompiledField, ...]  # everything else (repeated, constants)
    groups: tuple[_NodesPlan, ...]  # the elements of each group, in km.groups order


def _plan(km: KindMapping) -> _KindPlan:
    """The compiled forward plan of a kind mapping (built on first use, then kept on it).

    Only the document element's own fields use the XPath: an XPath evaluation has a fixed cost
    of several microseconds, more than reading the two or three children of a group item.
    """
    cached: _KindPlan | None = km.__dict__.get("_forward_plan")
    if cached is not None:
        return cached
    fast = tuple(f for f in km.fields if f.path is not None and not f.repeated and (f.path.tags or f.path.attr))
    groups = tuple(_NodesPlan(g.path) for g in km.groups)
    plan = _KindPlan(_FieldPlan(fast), tuple(f for f in km.fields if f not in fast), groups)
    object.__setattr__(km, "_forward_plan", plan)  # a cache, not part of the mapping's value
    return plan


def readable_path(path: LegacyPath, node: etree._Element) -> str:
    """A mapping path written with the prefixes the document itself uses (one naming style)."""
    by_ns = {ns: p for p, ns in node.nsmap.items()}

    def name(clark: str) -> str:
        q = etree.QName(clark)
        p = by_ns.get(q.namespace) if q.namespace else None
        return f"{p}:{q.localname}" if p else q.localname

    steps = [name(t) for t in path.tags]
    if path.attr:
        steps.append("@" + name(path.attr))
    return "/".join(steps)


def _problem_missing(f: CompiledField, node: etree._Element, prefix: str) -> FieldProblem:
    assert f.path is not None
    anchor = node.find(f.path.find) if f.path.find else node
    return FieldProblem(
        f"{prefix}{f.target}",
        f"{prefix_path(node)}{readable_path(f.path, node)}",
        line_of(anchor if anchor is not None else node),
        f"expected a value at {readable_path(f.path, node)} (needed for edXML field {prefix}{f.target})",
    )


def _problem_value(f: CompiledField, node: etree._Element, prefix: str, exc: Exception) -> FieldProblem:
    assert f.path is not None
    anchor = node.find(f.path.find) if f.path.find else node
    line = line_of(anchor if anchor is not None else node)
    return FieldProblem(f"{prefix}{f.target}", f"{prefix_path(node)}{readable_path(f.path, node)}", line, str(exc))


def _alternative(f: CompiledField, node: etree._Element, ctx: cv.ConvertContext, values: dict[str, Any],
                 problems: list[FieldProblem], prefix: str) -> bool:  # fmt: skip
    """Read the field from its alternative paths (in order) when its main path is empty."""
    for alt in f.alternatives:
        found = node.find(alt.find) if alt.find else node
        if found is None:
            continue
        text = found.get(alt.attr) if alt.attr else found.text
        if not text or text.isspace():
            continue
        noted = len(ctx.notes)
        try:
            value = f.converter.to_edxml(text, ctx)
        except cv.ConversionError as exc:
            where = f"{prefix_path(node)}{readable_path(alt, node)}"
            problems.append(FieldProblem(f"{prefix}{f.target}", where, line_of(found), str(exc)))
            return True
        where = f"{prefix_path(node)}{readable_path(alt, node)}"
        for note in ctx.notes[noted:]:
            ctx.located_notes.append(FieldProblem(f"{prefix}{f.target}", where, line_of(found), note))
        values[f.target] = [value] if f.repeated else value
        return True
    return False


def _absent(f: CompiledField, node: etree._Element, values: dict[str, Any], problems: list[FieldProblem],
            prefix: str, required: frozenset[str], ctx: cv.ConvertContext | None = None) -> None:  # fmt: skip
    if f.alternatives and ctx is not None and _alternative(f, node, ctx, values, problems, prefix):
        return
    if f.const is not None or f.default is not None:
        values[f.target] = f.const if f.const is not None else f.default
    elif f.required or f.target in required:
        problems.append(_problem_missing(f, node, prefix))


def _fast_fields(plan: _FieldPlan, node: etree._Element, ctx: cv.ConvertContext, values: dict[str, Any],
                 problems: list[FieldProblem], prefix: str, required: frozenset[str]) -> bool:  # fmt: skip
    parts = plan(node)
    if parts is None:
        return False
    for f, text in zip(plan.fields, parts, strict=False):
        if not text or text.isspace():
            _absent(f, node, values, problems, prefix, required, ctx)
            continue
        noted = len(ctx.notes)
        try:
            values[f.target] = f.converter.to_edxml(text, ctx)
        except cv.ConversionError as exc:
            problems.append(_problem_value(f, node, prefix, exc))
        if len(ctx.notes) > noted:
            _locate_notes(f, node, prefix, ctx, noted)
    return True


def _locate_notes(f: CompiledField, node: etree._Element, prefix: str, ctx: cv.ConvertContext, start: int) -> None:
    """Give the notes a converter just wrote the field's legacy path and line (slow, rare)."""
    where = _problem_value(f, node, prefix, ValueError(""))
    for i in range(start, len(ctx.notes)):
        ctx.located_notes.append(FieldProblem(where.target, where.legacy_path, where.line, ctx.notes[i]))


def _slow_fields(fields: tuple[CompiledField, ...], index: _ChildIndex, node: etree._Element,
                 ctx: cv.ConvertContext, values: dict[str, Any], problems: list[FieldProblem],
                 prefix: str, required: frozenset[str]) -> None:  # fmt: skip
    for f in fields:
        if f.path is None:
            value = f.const if f.const is not None else f.default
            if value is not None:
                values[f.target] = value
            continue
        tags, attr = f.path.tags, f.path.attr
        if not tags:
            found: list[etree._Element] | tuple[etree._Element, ...] = (node,)
        elif len(tags) == 1:
            found = index.children(node).get(tags[0], ())
        else:
            found = index.resolve(node, tags)
        if f.repeated:
            texts = [t for t in ((el.get(attr) if attr else el.text) for el in found) if t and not t.isspace()]
        else:
            first = (found[0].get(attr) if attr else found[0].text) if found else None
            texts = [first] if first and not first.isspace() else []
        if not texts:
            _absent(f, node, values, problems, prefix, required, ctx)
            continue
        noted = len(ctx.notes)
        try:
            converted = [f.converter.to_edxml(t, ctx) for t in texts]
        except cv.ConversionError as exc:
            problems.append(_problem_value(f, node, prefix, exc))
            continue
        finally:
            if len(ctx.notes) > noted:
                _locate_notes(f, node, prefix, ctx, noted)
        values[f.target] = converted if f.repeated else converted[0]


def extract(km: KindMapping, record: etree._Element, ctx: cv.ConvertContext) -> tuple[Extracted, list[FieldProblem]]:
    """Pull every mapped field out of one legacy document element; collect all problems."""
    plan = _plan(km)
    values: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    req = _EDOC_REQ if km.kind == "edoc" else _STATUS_REQ
    index = _ChildIndex()
    slow = plan.slow
    if not _fast_fields(plan.fast, record, ctx, values, problems, "", req):
        slow = plan.fast.fields + slow
    _slow_fields(slow, index, record, ctx, values, problems, "", req)
    groups: dict[str, list[dict[str, Any]]] = {}
    for g, nodes in zip(km.groups, plan.groups, strict=True):
        gfields = g.fields
        items: list[dict[str, Any]] = []
        greq = _GROUP_REQ.get(g.name, frozenset())
        elements = nodes(record) if g.path.tags else [record]
        for i, el in enumerate(elements):
            item: dict[str, Any] = {}
            ctx.item_index = i
            prefix = f"{g.name}[{i + 1}]."
            _slow_fields(gfields, index, el, ctx, item, problems, prefix, greq)
            items.append(item)
        groups[g.name] = items
    if km.kind == "edoc" and not groups.get("to"):
        to = next(g for g in km.groups if g.name == "to")
        problems.append(
            FieldProblem("to", f"{prefix_path(record)}{readable_path(to.path, record)}", line_of(record),
                         f"expected at least one recipient at {to.path.text}")
        )  # fmt: skip
    return Extracted(values, groups), problems


__all__ = ["FieldProblem", "extract", "line_of", "prefix_path", "readable_path"]
