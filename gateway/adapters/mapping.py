"""The declarative mapping: legacy paths ⇄ edXML field names, compiled once, used both ways.

A ``mapping.toml`` lists, for each kind of package (``edoc``, ``status``), the legacy element
that holds one document and a table of fields (``"promulgation.date" = {path = "NgayBanHanh",
format = "yyyy-MM-dd"}``) plus repeated groups (recipients, attachments).  Loading compiles
every path into a Clark-notation ``find`` expression and every field into a converter, so the
forward hot path is ``record.find(path).text`` followed by the converter: no schema decoding.

The reverse direction writes the same fields into a nested dict keyed like ``xmlschema``'s
default converter (``{"SoKyHieu": "...", "NoiNhan": {"CoQuan": [...]}}``); the adapter encodes it
with the legacy schema, which orders the children and refuses anything invalid.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from lxml import etree

from gateway.adapters import converters as cv
from gateway.adapters.targets import (
    EDOC_REQUIRED,
    GROUP_REQUIRED,
    STATUS_REQUIRED,
    Extracted,
    Kind,
    targets_for,
)
from gateway.errors import ConfigurationError
from gateway.files import read_toml

FIELD_KEYS: Final = frozenset({"path", "convert", "format", "table", "const", "default", "hook", "reverse", "required"})
GROUP_KEYS: Final = frozenset({"path", "fields"})
KIND_KEYS: Final = frozenset({"element", "id", "fields", "groups", "legacy", "wrapper", "when"})
TOP_KEYS: Final = frozenset({"namespaces", "tables", "organs", "edoc", "status"})
CONVERTERS: Final = frozenset(
    {"text", "date", "datetime", "int", "bool", "code", "table", "organ", "base64", "file", "cid", "hook"}
)

_TEMPLATE: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")

HookFn = Callable[[Any, cv.ConvertContext], Any]


@dataclass(frozen=True)
class LegacyPath:
    """A compiled legacy path such as ``CoQuanBanHanh/MaCoQuan`` or ``Tep/@ma``."""

    text: str
    tags: tuple[str, ...]  # Clark names of the element steps
    attr: str | None  # Clark name of the attribute, if the path ends in @attr
    keys: tuple[str, ...]  # the same steps as xmlschema dict keys (prefix:local)
    attr_key: str | None
    find: str | None = field(init=False, compare=False)  # Element.find expression; None = the element itself

    def __post_init__(self) -> None:
        object.__setattr__(self, "find", "/".join(self.tags) if self.tags else None)


def compile_path(text: str, namespaces: Mapping[str, str], *, where: str) -> LegacyPath:
    """Parse ``A/B/@c`` (steps may carry a prefix declared in [namespaces])."""
    raw = text.strip()
    if not raw or raw.startswith("/") or ".." in raw.split("/"):
        raise ConfigurationError(f"{where}: legacy path {text!r} must be relative to the document element")
    steps = [s for s in raw.split("/") if s not in ("", ".")]
    attr = attr_key = None
    if steps and steps[-1].startswith("@"):
        name = steps.pop()[1:]
        attr, attr_key = _qualify(name, namespaces, where, attribute=True), f"@{name}"
    tags: list[str] = []
    for step in steps:
        if step.startswith("@") or any(c in step for c in "[]()*"):
            raise ConfigurationError(f"{where}: unsupported step {step!r} in legacy path {text!r}")
        tags.append(_qualify(step, namespaces, where, attribute=False))
    return LegacyPath(raw, tuple(tags), attr, tuple(steps), attr_key)


def _qualify(name: str, namespaces: Mapping[str, str], where: str, *, attribute: bool) -> str:
    prefix, sep, local = name.rpartition(":")
    if sep:
        if prefix not in namespaces:
            raise ConfigurationError(f"{where}: prefix {prefix!r} is not declared in [namespaces]")
        return f"{{{namespaces[prefix]}}}{local}"
    if attribute or not namespaces.get(""):
        return local
    return f"{{{namespaces['']}}}{local}"


@dataclass(frozen=True)
class CompiledField:
    """One edXML field: where it sits in the legacy XML and how its value converts."""

    target: str
    kind: str  # the model type of the target (see targets.py)
    path: LegacyPath | None
    converter: cv.Converter
    const: Any = None
    default: Any = None
    required: bool = False
    reverse: bool = True
    repeated: bool = False
    # Further places real senders put the same value (``path = ["OtherInfo/Priority", "Priority"]``):
    # read in order when ``path`` is empty; the reverse direction writes ``path`` only.
    alternatives: tuple[LegacyPath, ...] = ()


@dataclass(frozen=True)
class CompiledGroup:
    """A repeated group (recipients, attachments): one item per element at ``path``."""

    name: str
    path: LegacyPath
    fields: tuple[CompiledField, ...]


@dataclass(frozen=True)
class KindMapping:
    """The mapping of one package kind (``edoc`` or ``status``)."""

    kind: Kind
    element: str  # Clark name of the legacy element that holds one document
    element_key: str  # the same name as written in the mapping (xmlschema path)
    id_path: LegacyPath | None
    fields: tuple[CompiledField, ...]
    groups: tuple[CompiledGroup, ...]
    legacy: tuple[tuple[LegacyPath, str], ...] = ()  # legacy-only values written on reverse
    wrapper: str | None = None  # Clark name of the root element written around one reverse document
    when: LegacyPath | None = None  # present only in documents of this kind (when kinds share an element)
    # Every element written around one reverse document, outermost first (the wrapper, or the
    # parents of a local ``element = "GoiVanBan/VanBan"``), and the wrapper's attribute templates
    # (``{field}`` from the package, ``{today:dd/MM/yyyy}`` / ``{now:...}`` from the clock).
    wrapper_chain: tuple[str, ...] = ()
    wrapper_attributes: tuple[tuple[str, str], ...] = ()

    def matches(self, element: etree._Element) -> bool:
        """Whether a document element is of this kind (its tag, and the ``when`` path if any)."""
        if element.tag != self.element:
            return False
        if self.when is None or self.when.find is None:
            return True
        return element.find(self.when.find) is not None

    def all_paths(self) -> list[tuple[str, LegacyPath]]:
        """Every legacy path, with the field it serves (for schema checks and scaffolds)."""
        out = [(f.target, p) for f in self.fields for p in _paths_of(f)]
        for g in self.groups:
            out.append((g.name, g.path))
            out += [(f"{g.name}.{f.target}", _join(g.path, p)) for f in g.fields for p in _paths_of(f)]
        return out


def _paths_of(f: CompiledField) -> tuple[LegacyPath, ...]:
    return ((f.path, *f.alternatives)) if f.path is not None else ()


def _join(base: LegacyPath, rel: LegacyPath) -> LegacyPath:
    return LegacyPath(f"{base.text}/{rel.text}", base.tags + rel.tags, rel.attr, base.keys + rel.keys, rel.attr_key)


@dataclass(frozen=True)
class MappingSpec:
    """A loaded ``mapping.toml``."""

    namespaces: Mapping[str, str]
    kinds: Mapping[Kind, KindMapping]
    organs: Mapping[str, str]

    def for_element(self, element: etree._Element) -> KindMapping | None:
        """Which kind of package a legacy document element translates to."""
        for km in self.kinds.values():
            if km.matches(element):
                return km
        return None


def _check_keys(data: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigurationError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def load_mapping(path: Path, *, hooks: Mapping[str, HookFn] | None = None) -> MappingSpec:
    """Load and compile a mapping file; every problem is a :class:`ConfigurationError` naming it."""
    data = read_toml(path, "adapter mapping")
    return compile_mapping(data, source=str(path), hooks=hooks or {})


def compile_mapping(data: Mapping[str, Any], *, source: str, hooks: Mapping[str, HookFn]) -> MappingSpec:
    """Compile a mapping already read from TOML."""
    _check_keys(data, TOP_KEYS, source)
    namespaces = {str(k): str(v) for k, v in data.get("namespaces", {}).items()}
    tables = data.get("tables", {})
    organs = {str(k): str(v) for k, v in data.get("organs", {}).items()}
    kinds: dict[Kind, KindMapping] = {}
    for kind in ("edoc", "status"):
        if kind in data:
            kinds[kind] = _compile_kind(kind, data[kind], namespaces, tables, hooks, f"{source} [{kind}]")
    if not kinds:
        raise ConfigurationError(f"{source}: a mapping needs an [edoc] or a [status] section")
    return MappingSpec(namespaces=namespaces, kinds=kinds, organs=organs)


def _compile_kind(
    kind: Kind,
    data: Mapping[str, Any],
    namespaces: Mapping[str, str],
    tables: Mapping[str, Any],
    hooks: Mapping[str, HookFn],
    where: str,
) -> KindMapping:
    _check_keys(data, KIND_KEYS, where)
    if "element" not in data:
        raise ConfigurationError(f"{where}: 'element' (the legacy element holding one document) is required")
    element_text = str(data["element"]).strip().strip("/")
    steps = [step for step in element_text.split("/") if step]
    if not steps or any(c in element_text for c in "[]()*@") or ".." in steps:
        raise ConfigurationError(
            f"{where}: element {data['element']!r} must name an element or a path to one (GoiVanBan/VanBan)"
        )
    # A path names a local element (most vendors declare only the batch root globally); the
    # document element itself is the last step, found wherever it sits in an input.
    element = _qualify(steps[-1], namespaces, where, attribute=False)
    for step in steps[:-1]:
        _qualify(step, namespaces, where, attribute=False)
    scalar_targets, group_targets = targets_for(kind)
    fields = tuple(
        _compile_field(name, spec, scalar_targets, namespaces, tables, hooks, f"{where} field {name!r}")
        for name, spec in data.get("fields", {}).items()
    )
    groups: list[CompiledGroup] = []
    for gname, gspec in data.get("groups", {}).items():
        gwhere = f"{where} group {gname!r}"
        if gname not in group_targets:
            raise ConfigurationError(f"{gwhere}: unknown group; known: {', '.join(sorted(group_targets))}")
        _check_keys(gspec, GROUP_KEYS, gwhere)
        if "path" not in gspec:
            raise ConfigurationError(f"{gwhere}: 'path' to the repeated legacy element is required")
        gfields = tuple(
            _compile_field(n, s, group_targets[gname], namespaces, tables, hooks, f"{gwhere} field {n!r}")
            for n, s in gspec.get("fields", {}).items()
        )
        mapped = {f.target for f in gfields}
        missing = [r for r in GROUP_REQUIRED.get(gname, ()) if r not in mapped]
        if missing:
            raise ConfigurationError(f"{gwhere}: required item field(s) not mapped: {', '.join(missing)}")
        groups.append(CompiledGroup(gname, compile_path(str(gspec["path"]), namespaces, where=gwhere), gfields))
    mapped = {f.target for f in fields}
    required = EDOC_REQUIRED if kind == "edoc" else STATUS_REQUIRED
    missing = [r for r in required if r not in mapped]
    if kind == "edoc" and "code" not in mapped and "code.number" not in mapped:
        missing.append("code (or code.number + code.notation)")
    if kind == "edoc" and "to" not in {g.name for g in groups}:
        missing.append("group to (the recipients)")
    if missing:
        raise ConfigurationError(f"{where}: required edXML field(s) not mapped: {', '.join(missing)}")
    legacy = tuple(
        (compile_path(str(k), namespaces, where=f"{where} legacy {k!r}"), str(v))
        for k, v in data.get("legacy", {}).items()
    )
    id_path = compile_path(str(data["id"]), namespaces, where=where) if "id" in data else None
    chain, attributes = _wrapper(data.get("wrapper"), steps, namespaces, where)
    wrapper = chain[0] if chain else None
    when = compile_path(str(data["when"]), namespaces, where=f"{where} when") if "when" in data else None
    return KindMapping(kind, element, "/".join(steps), id_path, fields, tuple(groups), legacy, wrapper, when,
                       chain, attributes)  # fmt: skip


WRAPPER_KEYS: Final = frozenset({"element", "attributes"})
_CLOCK_TEMPLATE: Final = re.compile(r"\{(today|now):([^}]+)\}")


def _wrapper(
    spec: Any, steps: list[str], namespaces: Mapping[str, str], where: str
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """``wrapper = "Root"`` or ``[edoc.wrapper] element = "Root", attributes = {...}``; default: the
    parents of a local document element, so a reverse document is written where the schema wants it."""
    attributes: tuple[tuple[str, str], ...] = ()
    if spec is None:
        names = steps[:-1]
    elif isinstance(spec, str):
        names = [n for n in spec.strip("/").split("/") if n]
    elif isinstance(spec, Mapping):
        _check_keys(spec, WRAPPER_KEYS, f"{where} wrapper")
        names = [n for n in str(spec.get("element", "")).strip("/").split("/") if n]
        attrs = spec.get("attributes", {})
        if not isinstance(attrs, Mapping):
            raise ConfigurationError(f"{where} wrapper: attributes must be a table of name = template")
        attributes = tuple(
            (_qualify(str(k), namespaces, where, attribute=True), str(v)) for k, v in attrs.items()
        )
        for _, template in attributes:
            for _, pattern in _CLOCK_TEMPLATE.findall(template):
                cv.java_pattern_to_strftime(pattern)
    else:
        raise ConfigurationError(f'{where}: wrapper must be an element name or a table {{ element = "..." }}')
    if spec is not None and not names:
        raise ConfigurationError(f"{where} wrapper: element is required")
    return tuple(_qualify(n, namespaces, where, attribute=False) for n in names), attributes


def render_template(template: str, values: Mapping[str, Any], now: Any) -> str:
    """Fill ``{field}`` from the package's values and ``{today:PATTERN}``/``{now:PATTERN}`` from ``now``."""
    text = _CLOCK_TEMPLATE.sub(lambda m: now.strftime(cv.java_pattern_to_strftime(m.group(2))), template)
    text = _TEMPLATE.sub(lambda m: "" if values.get(m.group(1)) is None else str(values.get(m.group(1))), text)
    return unicodedata.normalize("NFC", text)


def _compile_field(
    target: str,
    spec: Any,
    targets: Mapping[str, str],
    namespaces: Mapping[str, str],
    tables: Mapping[str, Any],
    hooks: Mapping[str, HookFn],
    where: str,
) -> CompiledField:
    if isinstance(spec, str):
        spec = {"path": spec}
    if not isinstance(spec, Mapping):
        raise ConfigurationError(f'{where}: expected a table like {{ path = "..." }} or a path string')
    _check_keys(spec, FIELD_KEYS, where)
    if target not in targets:
        raise ConfigurationError(f"{where}: unknown edXML field; known: {', '.join(sorted(targets))}")
    kind = targets[target]
    raw_paths = spec.get("path")
    if isinstance(raw_paths, list):
        if not raw_paths or not all(isinstance(p, str) for p in raw_paths):
            raise ConfigurationError(f"{where}: path must be a string or a non-empty list of strings")
        paths = [compile_path(p, namespaces, where=where) for p in raw_paths]
    else:
        paths = [compile_path(str(raw_paths), namespaces, where=where)] if raw_paths is not None else []
    path = paths[0] if paths else None
    if path is None and "const" not in spec and "default" not in spec:
        raise ConfigurationError(f"{where}: give a legacy 'path', a 'const' or a 'default'")
    converter, reversible = _make_converter(kind, spec, tables, hooks, where)
    const = _static_value(spec.get("const"), converter, kind, where)
    default = _static_value(spec.get("default"), converter, kind, where)
    return CompiledField(
        target=target,
        kind=kind,
        path=path,
        converter=converter,
        const=const,
        default=default,
        required=bool(spec.get("required", False)),
        reverse=bool(spec.get("reverse", True)) and reversible and path is not None,
        repeated=kind == "list",
        alternatives=tuple(paths[1:]),
    )


def _static_value(raw: Any, converter: cv.Converter, kind: str, where: str) -> Any:
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            return converter.to_edxml(raw, cv.ConvertContext(organs=cv.DictOrganLookup({})))
        except cv.ConversionError as exc:
            raise ConfigurationError(f"{where}: constant {raw!r}: {exc}") from exc
    return cv.coerce_for(kind)(raw)


_DEFAULT_FORMATS: Final = {"date": "yyyy-MM-dd", "datetime": "yyyy-MM-ddTHH:mm:ss"}


def _make_converter(
    kind: str, spec: Mapping[str, Any], tables: Mapping[str, Any], hooks: Mapping[str, HookFn], where: str
) -> tuple[cv.Converter, bool]:
    name = str(spec.get("convert") or ("table" if "table" in spec else "hook" if "hook" in spec else ""))
    if not name:
        name = {
            "date": "date", "datetime": "datetime", "int": "int", "bool": "bool", "code": "code",
            "bytes": "base64", "priority": "int", "steering": "int", "business": "int", "status_code": "int",
        }.get(kind, "text")  # fmt: skip
    if name not in CONVERTERS:
        raise ConfigurationError(f"{where}: unknown converter {name!r}; known: {', '.join(sorted(CONVERTERS))}")
    if name in ("date", "datetime"):
        formats = spec.get("format", _DEFAULT_FORMATS[name])
        patterns = [str(f) for f in formats] if isinstance(formats, list) else [str(formats)]
        if not patterns or not all(patterns):
            raise ConfigurationError(f"{where}: format must be a pattern or a non-empty list of patterns")
        for pattern in patterns:
            cv.java_pattern_to_strftime(pattern)
        return cv.DateConverter(patterns[0], with_time=name == "datetime", alternatives=tuple(patterns[1:])), True
    if name == "table":
        tname = str(spec.get("table", ""))
        if tname not in tables:
            raise ConfigurationError(f"{where}: table {tname!r} is not defined under [tables]")
        return cv.TableConverter(tname, dict(tables[tname]), cv.coerce_for(kind)), True
    if name == "hook":
        hname = str(spec.get("hook", ""))
        if hname not in hooks:
            raise ConfigurationError(f"{where}: hook {hname!r} is not defined in the adapter's hooks module")
        reverse = hooks.get(f"{hname}__reverse")
        return HookConverter(hname, hooks[hname], reverse), reverse is not None
    simple: dict[str, cv.Converter] = {
        "text": cv.TextConverter(), "int": cv.IntConverter(), "bool": cv.BoolConverter(),
        "code": cv.CodeConverter(), "organ": cv.OrganConverter(), "base64": cv.Base64Converter(),
        "file": cv.FileRefConverter(), "cid": cv.CidConverter(),
    }  # fmt: skip
    conv = simple[name]
    if kind in ("priority", "steering", "business", "status_code") and name == "int":
        return _Coerced(conv, cv.coerce_for(kind)), True
    return conv, True


@dataclass(frozen=True)
class _Coerced:
    inner: cv.Converter
    coerce: Callable[[Any], Any]

    def to_edxml(self, text: str, ctx: cv.ConvertContext) -> Any:
        try:
            return self.coerce(self.inner.to_edxml(text, ctx))
        except ValueError as exc:
            raise cv.ConversionError(f"expected a known code, got {text.strip()!r}") from exc

    def to_legacy(self, value: Any, ctx: cv.ConvertContext) -> str | None:
        return self.inner.to_legacy(value, ctx)


@dataclass(frozen=True)
class HookConverter:
    """A named Python function from the adapter's ``hooks.py`` for a truly odd field."""

    name: str
    forward: HookFn
    backward: HookFn | None

    def to_edxml(self, text: str, ctx: cv.ConvertContext) -> Any:
        try:
            return self.forward(text, ctx)
        except cv.ConversionError:
            raise
        except Exception as exc:
            raise cv.ConversionError(f"hook {self.name} failed: {type(exc).__name__}: {exc}") from exc

    def to_legacy(self, value: Any, ctx: cv.ConvertContext) -> str | None:
        if self.backward is None:
            return None
        try:
            out = self.backward(value, ctx)
        except Exception as exc:
            raise cv.ConversionError(f"hook {self.name}__reverse failed: {type(exc).__name__}: {exc}") from exc
        return None if out is None else str(out)


# --- reverse: mapping values → xmlschema dict -------------------------------------------------------


def _put(tree: dict[str, Any], keys: tuple[str, ...], attr_key: str | None, value: Any) -> None:
    node = tree
    for key in keys:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {} if child is None else {"$": child}
            node[key] = child
        node = child
    if attr_key is not None:
        node.setdefault(attr_key, value)
    else:
        node.setdefault("$", value)


def _collapse(node: Any) -> Any:
    if isinstance(node, list):
        return [_collapse(v) for v in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"$"}:
        return node["$"]
    return {k: _collapse(v) for k, v in node.items()}


def _reverse_fields(
    fields: tuple[CompiledField, ...], values: Mapping[str, Any], ctx: cv.ConvertContext, tree: dict[str, Any]
) -> None:
    for f in fields:
        if not f.reverse or f.path is None:
            continue
        value = values.get(f.target)
        if value is None or value == [] or value == "":
            continue
        if f.repeated:
            texts = [t for t in (f.converter.to_legacy(v, ctx) for v in value) if t is not None]
            if texts:
                *parents, last = f.path.keys
                holder = tree
                for key in parents:
                    holder = holder.setdefault(key, {})
                holder.setdefault(last, texts)
            continue
        text = f.converter.to_legacy(value, ctx)
        if text is not None:
            _put(tree, f.path.keys, f.path.attr_key, text)


def to_legacy_data(km: KindMapping, ex: Extracted, ctx: cv.ConvertContext) -> dict[str, Any]:
    """The legacy document as an ``xmlschema`` data dict (unordered; the encoder orders it)."""
    tree: dict[str, Any] = {}
    _reverse_fields(km.fields, ex.values, ctx, tree)
    for g in km.groups:
        items = []
        for i, values in enumerate(ex.groups.get(g.name, ())):
            ctx.item_index, ctx.item = i, values
            item: dict[str, Any] = {}
            _reverse_fields(g.fields, values, ctx, item)
            items.append(_collapse(item))
        ctx.item = {}
        if items:
            *parents, last = g.path.keys
            holder = tree
            for key in parents:
                holder = holder.setdefault(key, {})
            holder[last] = items
    flat = {k: ("" if v is None else str(v)) for k, v in ex.values.items() if not isinstance(v, (list, dict))}
    for path, template in km.legacy:
        text = unicodedata.normalize("NFC", _TEMPLATE.sub(lambda m: flat.get(m.group(1), ""), template))
        _put(tree, path.keys, path.attr_key, text or None)  # "" writes an empty element
    collapsed = _collapse(tree)
    assert isinstance(collapsed, dict)
    return collapsed


__all__ = [
    "WRAPPER_KEYS",
    "CompiledField",
    "CompiledGroup",
    "KindMapping",
    "LegacyPath",
    "MappingSpec",
    "compile_mapping",
    "compile_path",
    "load_mapping",
    "render_template",
    "to_legacy_data",
]
