"""One loaded adapter: manifest + legacy schema + compiled mapping, translating both ways.

Forward (legacy → edXML), per document: hardened parse (once per input), lxml XSD validation of
the document element, the compiled path extractor, converters, model assembly, the canonical
edXML builder and strict edXML validation.  Reverse (edXML → legacy): the model is flattened to
mapping names, written into an ``xmlschema`` data dict and encoded with the legacy schema, so
the output is valid by construction, then encoded into the legacy character set.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

from lxml import etree

from gateway.adapters import mime
from gateway.adapters.converters import ChainedOrganLookup, ConvertContext, DictOrganLookup, OrganLookup
from gateway.adapters.encodings import declared_encoding, from_unicode_xml, to_utf8_xml
from gateway.adapters.extract import FieldProblem, extract, line_of, prefix_path
from gateway.adapters.manifest import AdapterManifest, load_manifest
from gateway.adapters.mapping import KindMapping, MappingSpec, load_mapping, render_template, to_legacy_data
from gateway.adapters.report import FILE_LEVEL, DocumentError, DocumentResult, TranslationReport, tolerated
from gateway.adapters.schema import LegacySchema
from gateway.adapters.targets import build_edoc, build_status, flatten_edoc, flatten_status
from gateway.edxml import build_package, make_document_id, validate_bytes
from gateway.edxml.model import Code, EdocPackage, StatusPackage
from gateway.edxml.schema import load_schema
from gateway.errors import (
    ConfigurationError,
    GatewayError,
    InputLimitError,
    MappingContext,
    MappingError,
    SchemaValidationError,
)
from gateway.limits import DEFAULT_INPUT_LIMITS, Deadline, InputLimits, read_bounded
from gateway.xml import XmlLimits, parse_xml

Package = EdocPackage | StatusPackage
_OUTPUT_LIMITS = XmlLimits(max_bytes=1 << 30)  # our own output; size is bounded by the input


@dataclass(frozen=True)
class LegacyOutput:
    """A legacy document produced by the reverse direction."""

    data: bytes  # the XML (or the multipart/related message for MIME containers)
    files: Mapping[str, bytes] = field(default_factory=dict)  # side files, relative names
    element: etree._Element | None = None  # the legacy element (for SOAP delivery)


def load_hooks(path: Path, code: str) -> dict[str, Callable[..., Any]]:
    """Import the adapter's ``hooks.py`` by file path; every public function is a hook."""
    name = f"lienthong_adapter_hooks_{code}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigurationError(f"{path}: cannot load hooks module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ConfigurationError(f"{path}: hooks module failed to import: {type(exc).__name__}: {exc}") from exc
    return {k: v for k, v in vars(module).items() if callable(v) and not k.startswith("_")}


class Adapter:
    """A ready-to-use adapter (build it with :meth:`load` or through the registry)."""

    def __init__(
        self,
        manifest: AdapterManifest,
        *,
        organs: OrganLookup | None = None,
        check_paths: bool = True,
        limits: InputLimits = DEFAULT_INPUT_LIMITS,
    ):
        self.manifest = manifest
        self.limits = limits
        self.code = manifest.code
        hooks = load_hooks(manifest.hooks, manifest.code) if manifest.hooks else {}
        self.mapping: MappingSpec = load_mapping(manifest.mapping, hooks=hooks)
        self.schema = LegacySchema(manifest.schema, folder=manifest.folder)
        own = DictOrganLookup(self.mapping.organs)
        self.organs: OrganLookup = ChainedOrganLookup(own, organs) if organs is not None else own
        self._record_tags = tuple(km.element for km in self.mapping.kinds.values())
        for km in self.mapping.kinds.values():
            if "/" in km.element_key:
                self.schema.register_local(km.element, km.element_key, self.mapping.namespaces)
        if check_paths:
            self.check_paths()

    @classmethod
    def load(cls, folder: Path, *, organs: OrganLookup | None = None) -> Adapter:
        return cls(load_manifest(folder), organs=organs)

    # -- configuration checks -------------------------------------------------------------------

    def check_paths(self) -> None:
        """Every legacy path of the mapping must exist in the legacy schema (schema-driven)."""
        problems: list[str] = []
        for km in self.mapping.kinds.values():
            known, open_ = self.schema.known_paths(km.element_key, self.mapping.namespaces)
            for target, path in km.all_paths():
                key = path.tags + ((f"@{path.attr}",) if path.attr else ())
                if not key or key in known:
                    continue
                if any(key[: len(p)] == p for p in open_):
                    continue
                problems.append(
                    f"{km.kind} field {target}: legacy path {path.text!r} is not in {self.schema.path.name}"
                )
        if problems:
            raise ConfigurationError(f"adapter {self.code}: " + "; ".join(problems))

    # -- forward ----------------------------------------------------------------------------------

    def kind_of(self, element: etree._Element) -> KindMapping | None:
        return self.mapping.for_element(element) if isinstance(element.tag, str) else None

    def records(self, root: etree._Element) -> Iterator[tuple[etree._Element, KindMapping]]:
        """The document elements of an input: the root itself, or every one inside a batch/envelope."""
        km = self.kind_of(root)
        if km is not None:
            yield root, km
            return
        for el in root.iter(*self._record_tags):
            parent = el.getparent()
            nested = False
            while parent is not None:
                if parent.tag in self._record_tags:
                    nested = True
                    break
                parent = parent.getparent()
            if not nested:
                found = self.kind_of(el)
                if found is not None:
                    yield el, found

    def translate_bytes(
        self,
        data: bytes,
        *,
        source: str | None = None,
        base_dir: Path | None = None,
        build: bool = True,
        limits: XmlLimits | None = None,
    ) -> list[DocumentResult]:
        """Translate every document of one legacy input; a bad document never stops the others."""
        parts: Mapping[str, bytes] = {}
        try:
            if self.manifest.container == "mime":
                data, parts = mime.split_related(data, source=source, max_parts=self.limits.max_mime_parts)
            utf8 = to_utf8_xml(data, self.manifest.encoding, source=source, fallback=self.manifest.encoding_fallback)
            own = self.limits.xml(max_bytes=self.limits.max_legacy_bytes)
            root = parse_xml(utf8, source=source, limits=limits or own)
        except GatewayError as exc:
            loc = exc.location
            err = DocumentError(self.code, FILE_LEVEL, None, exc.message, line=loc.line if loc else None,
                                source=source)  # fmt: skip
            return [DocumentResult(FILE_LEVEL, None, None, errors=(err,), source=source)]
        except (UnicodeDecodeError, ValueError) as exc:
            declared = declared_encoding(data)
            said = f"the file declares {declared}" if declared else "the file declares no encoding"
            err = DocumentError(
                self.code, FILE_LEVEL, None, f"cannot decode input as {self.manifest.encoding} ({said}): {exc}",
                source=source,
            )  # fmt: skip
            return [DocumentResult(FILE_LEVEL, None, None, errors=(err,), source=source)]
        return self.translate_tree(root, source=source, base_dir=base_dir, parts=parts, build=build)

    def translate_tree(
        self,
        root: etree._Element,
        *,
        source: str | None = None,
        base_dir: Path | None = None,
        parts: Mapping[str, bytes] | None = None,
        build: bool = True,
    ) -> list[DocumentResult]:
        """Translate the documents of an already (hardened-)parsed input."""
        results = [
            self.translate_record(el, km, index, source=source, base_dir=base_dir, parts=parts, build=build)
            for index, (el, km) in enumerate(self.records(root), start=1)
        ]
        if not results:
            names = ", ".join(km.element_key for km in self.mapping.kinds.values())
            err = DocumentError(
                self.code, 1, None, f"expected a {names} element, found <{etree.QName(root).localname}>",
                legacy_path=prefix_path(root).rstrip("/"), line=line_of(root), source=source,
            )  # fmt: skip
            results.append(DocumentResult(1, None, None, errors=(err,), source=source))
        return results

    def legacy_id(self, record: etree._Element, km: KindMapping) -> str | None:
        if km.id_path is None:
            return None
        node = record.find(km.id_path.find) if km.id_path.find else record
        if node is None:
            return None
        text = node.get(km.id_path.attr) if km.id_path.attr else node.text
        return text.strip() if text and text.strip() else None

    def translate_record(
        self,
        record: etree._Element,
        km: KindMapping,
        index: int,
        *,
        source: str | None = None,
        base_dir: Path | None = None,
        parts: Mapping[str, bytes] | None = None,
        build: bool = True,
    ) -> DocumentResult:
        """Translate one legacy document element into a package (and its validated edXML bytes)."""
        legacy_id = self.legacy_id(record, km)
        deadline = Deadline(self.limits.max_document_seconds, source=source)

        def fail(errors: list[DocumentError]) -> DocumentResult:
            return DocumentResult(index, legacy_id, km.kind, errors=tuple(errors), source=source)

        try:
            return self._translate_checked(record, km, index, legacy_id, deadline, fail, source, base_dir, parts, build)
        except InputLimitError as exc:
            return fail([DocumentError(self.code, index, legacy_id, exc.message, line=line_of(record), source=source)])

    def _translate_checked(
        self,
        record: etree._Element,
        km: KindMapping,
        index: int,
        legacy_id: str | None,
        deadline: Deadline,
        fail: Callable[[list[DocumentError]], DocumentResult],
        source: str | None,
        base_dir: Path | None,
        parts: Mapping[str, bytes] | None,
        build: bool,
    ) -> DocumentResult:
        """:meth:`translate_record`'s stages, with the document's time budget checked between them."""
        departures: list[DocumentError] = []
        if not self.schema.is_valid(record):
            departures = [
                DocumentError(self.code, index, legacy_id, f"legacy schema: {i.message}", i.path, i.line, None, source)
                for i in self.schema.issues(record, prefix=prefix_path(record), max_issues=self.limits.max_issues)
            ]
            if self.manifest.validation == "strict":
                return fail(departures)
        deadline.check("validating against the legacy schema")
        ctx = ConvertContext(organs=self.organs, base_dir=base_dir, parts=parts or {})
        extracted, problems = extract(km, record, ctx)
        deadline.check("mapping the legacy fields")
        if problems:
            # What the mapping cannot read is the error; schema departures elsewhere in the
            # document are listed with it (one per place: a field's own problem says it best).
            errors = [self._problem(p, index, legacy_id, source) for p in problems[: self.limits.max_issues]]
            return fail(_merge_departures(errors, departures))
        warnings = tuple(tolerated(departures)) + tuple(
            DocumentError(self.code, index, legacy_id, n.message, n.legacy_path, n.line, n.target, source)
            for n in ctx.located_notes
        )
        try:
            package: Package
            if km.kind == "edoc":
                v = extracted.values
                doc_id = v.get("document_id") or make_document_id(
                    v["from.organ_id"], v["promulgation.date"], _code_of(v)
                )
                package = build_edoc(extracted, doc_id)
            else:
                package = build_status(extracted)
            edxml = None
            if build:
                edxml = build_package(package)
                # The strict edXML schema checks the output; validate_bytes (which re-parses,
                # re-detects the kind and collects every issue) only runs to explain a failure.
                if not load_schema(km.kind).validate(parse_xml(edxml, limits=_OUTPUT_LIMITS)):
                    validate_bytes(edxml, source_name=f"{source or self.code}#{index}")
                    raise SchemaValidationError("edXML output rejected by the strict schema")
        except SchemaValidationError as exc:
            return fail(
                [
                    DocumentError(
                        self.code,
                        index,
                        legacy_id,
                        f"edXML output: {i.message}",
                        i.path,
                        i.line,
                        None,
                        source,
                    )
                    for i in (exc.issues or ())
                ]
                or [DocumentError(self.code, index, legacy_id, f"edXML output: {exc}", source=source)]
            )
        except (GatewayError, ValueError, KeyError) as exc:
            line = line_of(record)
            return fail(
                [
                    DocumentError(
                        self.code,
                        index,
                        legacy_id,
                        f"cannot build the package: {exc}",
                        line=line,
                        source=source,
                    )
                ]
            )
        return DocumentResult(
            index, legacy_id, km.kind, package=package, edxml=edxml, source=source, warnings=warnings
        )

    def _problem(self, p: FieldProblem, index: int, legacy_id: str | None, source: str | None) -> DocumentError:
        return DocumentError(self.code, index, legacy_id, p.message, p.legacy_path, p.line, p.target, source)

    def translate_files(self, paths: list[Path], *, build: bool = True) -> TranslationReport:
        """Translate several legacy files; the report lists ok/failed for every document.

        Each file's size is checked (``max_legacy_bytes``) before it is read, and it is read
        through one bounded read, so a file that grows meanwhile cannot exceed the budget either.
        """
        report = TranslationReport(self.code)
        for path in paths:
            try:
                data = read_bounded(path, self.limits.max_legacy_bytes, "max_legacy_bytes")
            except InputLimitError as exc:
                err = DocumentError(self.code, FILE_LEVEL, None, exc.message, source=str(path))
                report.extend([DocumentResult(FILE_LEVEL, None, None, errors=(err,), source=str(path))])
                continue
            except OSError as exc:
                err = DocumentError(self.code, FILE_LEVEL, None, f"cannot read file: {exc.strerror}", source=str(path))
                report.extend([DocumentResult(FILE_LEVEL, None, None, errors=(err,), source=str(path))])
                continue
            report.extend(self.translate_bytes(data, source=str(path), base_dir=path.parent, build=build))
        return report

    # -- reverse ----------------------------------------------------------------------------------

    def _wrap(
        self, element: etree._Element, km: KindMapping, values: Mapping[str, Any], doc_name: str | None
    ) -> etree._Element:
        """Put one reverse document inside its wrapper chain (with the wrapper's attributes) and check it."""
        chain = km.wrapper_chain or ((km.wrapper,) if km.wrapper else ())
        if not chain:
            return element
        nsmap = cast(Any, element.nsmap)
        root = etree.Element(chain[0], nsmap=nsmap)
        now = _now_in_vietnam()
        for name, template in km.wrapper_attributes:
            root.set(name, render_template(template, values, now))
        holder = root
        for name in chain[1:]:
            holder = etree.SubElement(holder, name)
        holder.append(element)
        if not self.schema.is_valid(root):
            issues = "; ".join(str(i) for i in self.schema.issues(root))
            raise MappingError(
                f"wrapped legacy document is not valid: {issues}", context=MappingContext(self.code, doc_name)
            )
        return root

    def to_legacy(self, package: Package) -> LegacyOutput:
        """Write an edXML package (document or status) as a legacy document."""
        kind = "edoc" if isinstance(package, EdocPackage) else "status"
        km = self.mapping.kinds.get(kind)  # type: ignore[call-overload]
        if km is None:
            raise MappingError(
                f"adapter has no {kind} mapping, so it cannot write {kind} packages",
                context=MappingContext(adapter=self.code),
            )
        flat = flatten_edoc(package) if isinstance(package, EdocPackage) else flatten_status(package)
        ctx = ConvertContext(organs=self.organs)
        doc_name = flat.values.get("document_id") or flat.values.get("response_for.document_id")
        try:
            data = to_legacy_data(km, flat, ctx)
            element = self.schema.encode(data, km.element_key, self.mapping.namespaces)
        except MappingError as exc:
            raise MappingError(exc.message, context=MappingContext(adapter=self.code, document=doc_name)) from exc
        except ValueError as exc:  # ConversionError included
            raise MappingError(str(exc), context=MappingContext(adapter=self.code, document=doc_name)) from exc
        root = self._wrap(element, km, flat.values, doc_name)
        text = etree.tostring(root, encoding="unicode")
        # "declared" reads each file as it says; what we write is in the vendor's default encoding.
        encoding = self.manifest.encoding
        out_encoding = self.manifest.encoding_fallback if encoding == "declared" else encoding
        xml = from_unicode_xml(text, out_encoding, adapter=self.code)
        if self.manifest.container == "mime":
            xml = mime.build_related(xml, ctx.out_parts)
        return LegacyOutput(data=xml, files=dict(ctx.out_files), element=element)


def _now_in_vietnam() -> datetime:
    return datetime.now(timezone(timedelta(hours=7))).replace(tzinfo=None)


_ATTR_IN_MESSAGE = re.compile(r"attribute ([\w.:-]+)=")


def _place(path: str | None, message: str = "") -> str:
    """A document place compared across path styles: local names, no positions, ``@attr`` last."""
    steps = [step.rpartition(":")[2].split("[", 1)[0] for step in (path or "").split("/") if step]
    attr = _ATTR_IN_MESSAGE.search(message)
    if attr and (not steps or not steps[-1].startswith("@")):
        steps.append("@" + attr.group(1).rpartition(":")[2])
    return "/".join(steps[1:])  # the document element's own name differs between the two views


def _merge_departures(errors: list[DocumentError], departures: list[DocumentError]) -> list[DocumentError]:
    """The mapping's errors, each with the schema's word on the same place; other departures after."""
    by_place: dict[str, list[str]] = {}
    for d in departures:
        by_place.setdefault(_place(d.legacy_path, d.message), []).append(d.message)
    merged: list[DocumentError] = []
    used: set[str] = set()
    for e in errors:
        key = _place(e.legacy_path)
        extra = by_place.get(key)
        if extra and key not in used:
            used.add(key)
            e = dataclasses.replace(e, message=f"{e.message} ({'; '.join(extra)})")
        merged.append(e)
    return merged + [d for d in departures if _place(d.legacy_path, d.message) not in used]


def _code_of(values: Mapping[str, Any]) -> Code:
    code = values.get("code")
    if isinstance(code, Code):
        return code
    return Code(str(values.get("code.number", "")), str(values.get("code.notation", "")))


__all__ = ["Adapter", "LegacyOutput", "Package", "load_hooks"]
