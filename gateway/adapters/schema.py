"""A legacy XSD, loaded twice for two jobs: lxml for fast validation, xmlschema for the rest.

lxml's ``XMLSchema`` validates a document element in a fraction of a millisecond, so it runs on
every document.  ``xmlschema`` is about fifty times slower but gives path-rich error reasons and
can *encode* a data dict into XML that is valid by construction; it is built lazily and used
only when a document fails validation, for the reverse direction, and for schema-aware checks
of mapping paths.  Both load the XSD through hardened parsers and never touch the network.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import xmlschema
from lxml import etree

from gateway.errors import ConfigurationError, MappingError, ValidationIssue
from gateway.issues import summarise
from gateway.xml import compile_schema, parse_schema_document

_CLARK = re.compile(r"\{[^}]*\}")


def _line(value: Any) -> int | None:
    return value if isinstance(value, int) else None


class LegacySchema:
    """The legacy XSD of one adapter."""

    def __init__(self, path: Path, *, folder: Path | None = None):
        self.path = path
        try:
            doc = parse_schema_document(path, folder=folder or path.parent)
            self._lxml = compile_schema(doc)
        except etree.XMLSchemaParseError as exc:
            raise ConfigurationError(f"{path}: legacy schema does not compile: {exc}") from exc
        self._xs: xmlschema.XMLSchema | None = None
        self._lock = threading.Lock()
        # Document elements that are local in the schema (GoiVanBan/VanBan): lxml validates only
        # global elements, so these are checked against their own declaration with xmlschema.
        self._local: dict[str, tuple[str, dict[str, str]]] = {}

    def register_local(self, tag: str, path: str, namespaces: Mapping[str, str]) -> None:
        """Validate elements with Clark name ``tag`` against the local declaration at ``path``."""
        self.declaration(path, namespaces)  # a wrong path is a configuration error now, not per document
        self._local[tag] = ("/" + path.strip("/"), dict(namespaces))

    def _local_errors(self, element: etree._Element, local: tuple[str, dict[str, str]]) -> Any:
        schema_path, namespaces = local
        resource = xmlschema.XMLResource(element, allow="none")
        return self.rich.iter_errors(resource, schema_path=schema_path, namespaces=namespaces,
                                     use_location_hints=False)  # fmt: skip

    @property
    def rich(self) -> xmlschema.XMLSchema:
        """The xmlschema view (built on first use; about 0.1 s)."""
        with self._lock:
            if self._xs is None:
                try:
                    self._xs = xmlschema.XMLSchema(str(self.path), allow="sandbox", defuse="always")
                except xmlschema.XMLSchemaException as exc:
                    raise ConfigurationError(f"{self.path}: legacy schema rejected by xmlschema: {exc}") from exc
            return self._xs

    def is_valid(self, element: etree._Element) -> bool:
        """The hot-path check (lxml); False means :meth:`issues` has details."""
        local = self._local.get(element.tag) if self._local else None
        if local is not None:
            return not any(True for _ in self._local_errors(element, local))
        return bool(self._lxml.validate(element))

    def issues(
        self, element: etree._Element, *, prefix: str | None = None, max_issues: int = 20
    ) -> list[ValidationIssue]:
        """The schema problems of one document element, with path, line and expectation.

        ``prefix`` is the element's own path in a larger input (a batch or a SOAP body); xmlschema
        reports paths from the document element, so they are re-rooted there.

        lxml validates first and counts the problems (C, linear). Up to ``max_issues`` of them,
        xmlschema explains each one with richer reasons; beyond that xmlschema is not used at all
        (it builds every error of an element eagerly, quadratic in its attribute count: 1,000 junk
        attributes cost it ~20 s), and lxml's own messages are reported, capped and summarised by
        kind (:func:`gateway.issues.summarise`).
        """
        self._lxml.validate(element)
        log: list[Any] = list(self._lxml.error_log)  # type: ignore[call-overload]
        if len(log) > max_issues:
            return summarise(self._lxml_issues(element, log, prefix), max_issues)
        found: list[ValidationIssue] = []
        own = "/" + etree.QName(element).localname
        local = self._local.get(element.tag) if self._local else None
        try:
            errors = (
                self._local_errors(element, local)
                if local is not None
                else self.rich.iter_errors(xmlschema.XMLResource(element, allow="none"), use_location_hints=False)
            )
            for err in errors:
                path = _CLARK.sub("", err.path) if err.path else err.path
                line = _line(err.sourceline)
                child = _offending_child(err)
                if child is not None:  # point at the child itself, not at its parent's start tag
                    path = f"{path}/{_prefixed(child)}" if path else path
                    line = _line(child.sourceline) or line
                if prefix and path and path.startswith(own):
                    path = prefix.rstrip("/") + path[len(own) :]
                found.append(ValidationIssue(_reason(err), path=path, line=line))
                if len(found) > max_issues:
                    break
        except xmlschema.XMLSchemaException as exc:  # pragma: no cover - defensive
            found.append(ValidationIssue(str(exc)))
        if not found:  # xmlschema accepted what lxml refused: report lxml's view
            found = list(self._lxml_issues(element, log, prefix))
        return summarise(found, max_issues)

    @staticmethod
    def _lxml_issues(element: etree._Element, log: list[Any], prefix: str | None) -> Iterator[ValidationIssue]:
        """lxml's errors as issues; element paths are resolved (by name) for the first few only."""
        tree = element.getroottree()  # libxml2 reports paths from the document's root
        base = (prefix or "").rstrip("/")
        own = "/" + etree.QName(element).localname
        for n, e in enumerate(log):
            path = e.path or None
            if path and n < 50:
                try:
                    hits = tree.xpath(path)
                except etree.XPathError:
                    hits = []
                if isinstance(hits, list) and hits and isinstance(hits[0], etree._Element):
                    named = _name_path(hits[0], element)
                    path = base + named[len(own) :] if base else named
            yield ValidationIssue(_CLARK.sub("", str(e.message)), path=path, line=e.line or None)

    def encode(self, data: Mapping[str, Any], element: str, namespaces: Mapping[str, str]) -> etree._Element:
        """Encode a data dict to a legacy element; the schema orders children and checks values."""
        try:
            result = self.rich.encode(
                dict(data),
                path=element,
                namespaces=dict(namespaces),
                converter=xmlschema.UnorderedConverter,
                etree_element_class=etree.Element,
                validation="strict",
            )
        except (xmlschema.XMLSchemaValidationError, xmlschema.XMLSchemaEncodeError) as exc:
            reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
            path = getattr(exc, "path", None)
            raise MappingError(
                f"legacy document would not be valid: {reason}" + (f" at {path}" if path else "")
            ) from exc
        except (KeyError, ValueError, TypeError) as exc:
            raise MappingError(f"legacy document cannot be encoded: {exc}") from exc
        if isinstance(result, tuple):  # lax modes return (data, errors)
            result = result[0]
        if not isinstance(result, etree._Element):
            raise MappingError(f"xmlschema returned {type(result).__name__}, expected an element")
        return result

    def declaration(self, element: str, namespaces: Mapping[str, str]) -> Any:
        """The declaration of a global element, or of a local one named by a path from a global one.

        Most vendor XSDs declare only the batch root globally (``GoiVanBan``) and the document
        element inside it (``GoiVanBan/VanBan``), so every place an element is named takes a path.
        """
        xs = self.rich
        steps = [s for s in element.strip("/").split("/") if s]
        first = steps[0] if steps else element
        decl = xs.maps.elements.get(_clark(first, namespaces)) or xs.elements.get(first)
        if decl is None:
            names = ", ".join(sorted(xs.elements))
            raise ConfigurationError(f"{self.path}: no global element {first!r}; declared: {names}")
        for i, step in enumerate(steps[1:], start=1):
            wanted = _clark(step, namespaces)
            local = wanted.rpartition("}")[2]
            children = list(_child_elements(decl))
            match = next((c for c in children if c.name == wanted), None) or next(
                (c for c in children if c.local_name == local), None
            )
            if match is None:
                here = "/".join(steps[:i])
                names = ", ".join(sorted({str(c.local_name) for c in children})) or "none"
                raise ConfigurationError(f"{self.path}: {here} has no child element {step!r}; its children: {names}")
            decl = match
        return decl

    def known_paths(
        self, element: str, namespaces: Mapping[str, str]
    ) -> tuple[set[tuple[str, ...]], set[tuple[str, ...]]]:
        """All (Clark) element/attribute paths under a global element, and the prefixes open to xs:any."""
        decl = self.declaration(element, namespaces)
        paths: set[tuple[str, ...]] = set()
        open_: set[tuple[str, ...]] = set()

        def walk(node: Any, prefix: tuple[str, ...], depth: int) -> None:
            for name in getattr(node, "attributes", {}) or {}:
                if name:
                    paths.add((*prefix, f"@{name}"))
            xtype = getattr(node, "type", None)
            content = getattr(xtype, "content", None)
            if content is None or depth > 12 or not hasattr(content, "iter_elements"):
                return
            for child in content.iter_model() if hasattr(content, "iter_model") else ():
                if type(child).__name__.endswith("AnyElement"):
                    open_.add(prefix)
            for child in content.iter_elements():
                if type(child).__name__.endswith("AnyElement"):
                    open_.add(prefix)
                    continue
                path = (*prefix, child.name)
                paths.add(path)
                walk(child, path, depth + 1)

        walk(decl, (), 0)
        return paths, open_


def _child_elements(decl: Any) -> Any:
    content = getattr(getattr(decl, "type", None), "content", None)
    if content is None or not hasattr(content, "iter_elements"):
        return iter(())
    return (c for c in content.iter_elements() if getattr(c, "local_name", None))


def _offending_child(err: Any) -> etree._Element | None:
    """The child an "unexpected child" / content error is about (xmlschema reports the parent)."""
    index = getattr(err, "index", None)
    elem = getattr(err, "elem", None)
    if not isinstance(index, int) or not isinstance(elem, etree._Element) or not 0 <= index < len(elem):
        return None
    child = elem[index]
    return child if isinstance(child.tag, str) else None


def _prefixed(el: etree._Element) -> str:
    local = etree.QName(el).localname
    return f"{el.prefix}:{local}" if el.prefix else local


def _reason(err: Any) -> str:
    """xmlschema's reason, with its Python class names replaced by the expected XSD type."""
    reason = str(err.reason or err.message)
    cut = reason.find(" for <class ")
    if cut >= 0:
        reason = reason[:cut]
    validator = getattr(err, "validator", None)
    type_name = getattr(validator, "prefixed_name", None) or getattr(
        getattr(validator, "type", None), "prefixed_name", None
    )
    if type_name and "expected" not in reason:
        reason += f" (expected {type_name})"
    return reason


def _name_path(el: etree._Element, top: etree._Element) -> str:
    """``/VanBan/NoiNhan/CoQuan`` from ``top`` down to ``el`` (local names)."""
    names: list[str] = []
    node: etree._Element | None = el
    while node is not None:
        names.append(etree.QName(node).localname)
        if node is top:
            break
        node = node.getparent()
    return "/" + "/".join(reversed(names))


def _clark(name: str, namespaces: Mapping[str, str]) -> str:
    prefix, sep, local = name.rpartition(":")
    if sep:
        return f"{{{namespaces[prefix]}}}{local}" if prefix in namespaces else name
    default = namespaces.get("")
    return f"{{{default}}}{local}" if default else local


__all__ = ["LegacySchema"]
