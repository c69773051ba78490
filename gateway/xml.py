"""THE hardened XML parser: every XML input of the gateway goes through this module.

Two entry points share one policy:

* :func:`parse_xml` builds an lxml tree (legacy SOAP, manifests, status packages, small edXML).
* :func:`feed_target` drives an lxml *target* parser chunk by chunk, so a caller can stream a huge
  text node (an inline base64 attachment) somewhere else instead of holding it in memory.

The policy: no DTD at all (so no entity expansion, no external entities, no billion laughs), no
network access, XInclude refused, and limits on input size, nesting depth and text length. Each
limit lives in :class:`XmlLimits` and each violation raises a typed error from
:mod:`gateway.errors` that names the source, the line, and the limit that was hit.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Protocol

from lxml import etree

from gateway.errors import InputLimitError, Location, XmlError, XmlLimitError, XmlSecurityError, XmlSyntaxError

XINCLUDE_NS = "http://www.w3.org/2001/XInclude"

#: libxml2's own ceilings without XML_PARSE_HUGE; beyond them we switch huge mode on and enforce ours.
_LIBXML_MAX_DEPTH = 256
_LIBXML_MAX_TEXT = 10_000_000

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class XmlLimits:
    """Limits applied to every XML input; override per call site where a format needs more.

    ``max_bytes`` bounds the whole input, ``max_depth`` the element nesting,
    ``max_text_length`` any single text node (in characters), ``max_elements`` the number of
    elements and ``max_attributes`` the attributes of any one element. Streaming callers may
    exempt the elements they stream elsewhere (see :func:`feed_target`). The gateway-wide
    defaults live in :class:`gateway.limits.InputLimits` (``InputLimits().xml()``).
    """

    max_bytes: int = 64 * 1024 * 1024
    max_depth: int = _LIBXML_MAX_DEPTH  # libxml2 enforces it natively, so the default costs nothing
    max_text_length: int = _LIBXML_MAX_TEXT
    max_elements: int = 500_000
    max_attributes: int = 256

    def with_(self, **changes: int) -> XmlLimits:
        """Return a copy with some limits changed (``limits.with_(max_bytes=...)``)."""
        return replace(self, **changes)


DEFAULT_LIMITS = XmlLimits()

XmlSource = bytes | bytearray | memoryview | str | os.PathLike[str]


def _source_name(data: object, source: str | None) -> str:
    if source:
        return source
    if isinstance(data, (str, os.PathLike)):
        return str(data)
    return "<bytes>"


def _read_input(data: XmlSource, name: str, limits: XmlLimits) -> bytes:
    """Load the input as bytes, refusing anything larger than ``max_bytes`` before reading it."""
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise XmlError(f"cannot read XML input: {exc.strerror}", location=Location(name)) from exc
        if size > limits.max_bytes:
            raise XmlLimitError(
                f"input is {size} bytes, over the limit of {limits.max_bytes} bytes (max_bytes)",
                location=Location(name),
            )
        return path.read_bytes()
    raw = bytes(data)
    if len(raw) > limits.max_bytes:
        raise XmlLimitError(
            f"input is {len(raw)} bytes, over the limit of {limits.max_bytes} bytes (max_bytes)",
            location=Location(name),
        )
    return raw


class _RefuseExternalLoads(etree.Resolver):
    """Answer every external load libxml2 attempts (DTD, parameter entity, entity) with nothing.

    ``load_dtd=False`` and ``resolve_entities=False`` are not enough: libxml2 still opens the
    file behind ``<!DOCTYPE r SYSTEM "file:///…">`` and behind a parameter entity referenced in
    the internal subset (``<!ENTITY % p SYSTEM "file:///dev/zero"> %p;`` hangs the parser).
    With this resolver nothing is ever read; the DOCTYPE itself is then refused by our checks.
    """

    def resolve(self, system_url: str, public_id: str, context: Any) -> Any:  # type: ignore[override]
        return self.resolve_string("", context, base_url=None)


_REFUSE_EXTERNAL = _RefuseExternalLoads()


class _LocalFolderOnly(etree.Resolver):
    """Allow loads of files inside one folder (schema includes); refuse everything else."""

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder.resolve()

    def resolve(self, system_url: str, public_id: str, context: Any) -> Any:  # type: ignore[override]
        path = Path(system_url[7:] if system_url.startswith("file://") else system_url)
        try:
            resolved = path.resolve()
        except OSError:
            return self.resolve_string("", context, base_url=None)
        if resolved.is_file() and resolved.is_relative_to(self.folder):
            return self.resolve_filename(str(resolved), context)  # type: ignore[attr-defined]
        return self.resolve_string("", context, base_url=None)


def parse_schema_document(path: str | os.PathLike[str], *, folder: str | os.PathLike[str]) -> etree._ElementTree:
    """Parse one of the project's own XSD/WSDL files so that its includes and imports may load
    sibling files inside ``folder`` (and nothing else: no network, no DTD, no other paths).

    For trusted schema files shipped with the project or an adapter folder only; untrusted input
    goes through :func:`parse_xml`.
    """
    file = Path(path)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    parser.resolvers.add(_LocalFolderOnly(Path(folder)))
    try:
        return etree.parse(str(file), parser)
    except OSError as exc:
        raise XmlError(f"cannot read schema: {exc}", location=Location(str(file))) from exc
    except etree.XMLSyntaxError as exc:
        raise translate_syntax_error(exc, str(file)) from exc


_SCHEMA_COMPILE = threading.Lock()


def compile_schema(doc: etree._ElementTree | etree._Element) -> etree.XMLSchema:
    """Compile an XSD with lxml, one compile at a time in this process.

    libxml2 fills its table of XSD built-in types on the first compile of a process, and that is
    not thread-safe: two threads compiling at once in a fresh process can leave the table broken,
    after which *every* later compile fails ("xmlSchemaPValAttrNodeValue, the given type is not a
    built-in type") and a hub answered HTTP 500 to every sendEdoc until it was restarted (seen by
    bench_exchange; 4 of 30 fresh processes with four threads compiling edoc.xsd and status.xsd at
    once, libxml2 2.14.6). The table is therefore filled when this module is imported (below), and
    compiles, which are rare (each schema is compiled once and kept), share one lock.
    Raises ``etree.XMLSchemaParseError`` as lxml does.
    """
    with _SCHEMA_COMPILE:
        return etree.XMLSchema(doc)


compile_schema(etree.fromstring(
    b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="a" type="xs:string"/></xs:schema>'))


def make_parser(limits: XmlLimits = DEFAULT_LIMITS, *, target: object | None = None) -> etree.XMLParser:
    """An lxml parser configured with the gateway's policy (exposed for zeep and xmlschema glue)."""
    huge = limits.max_depth > _LIBXML_MAX_DEPTH or limits.max_text_length > _LIBXML_MAX_TEXT
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=huge,
        remove_blank_text=False,
        collect_ids=False,
        target=target,  # type: ignore[arg-type]
    )
    parser.resolvers.add(_REFUSE_EXTERNAL)
    return parser


_PARSERS = threading.local()


def _shared_parser(limits: XmlLimits) -> etree.XMLParser:
    """The :func:`make_parser` parser for ``limits``' huge mode, made once per thread.

    Building an lxml parser (and registering its resolver) costs more than parsing a small
    package; a parser may be reused for any number of documents but not by two threads at once.
    """
    huge = limits.max_depth > _LIBXML_MAX_DEPTH or limits.max_text_length > _LIBXML_MAX_TEXT
    cache: dict[bool, etree.XMLParser] | None = getattr(_PARSERS, "by_huge", None)
    if cache is None:
        cache = _PARSERS.by_huge = {}
    parser = cache.get(huge)
    if parser is None:
        parser = cache[huge] = make_parser(limits)
    return parser


def translate_syntax_error(exc: etree.XMLSyntaxError, name: str) -> XmlError:
    """Map an lxml syntax error to the gateway's tree, keeping file and line."""
    msg = str(exc.msg if getattr(exc, "msg", None) else exc)
    line = exc.lineno if getattr(exc, "lineno", None) else None
    col = exc.offset if getattr(exc, "offset", None) else None
    loc = Location(name, line=line, column=col)
    lowered = msg.lower()
    if "excessive depth" in lowered:
        return XmlLimitError(f"nesting too deep ({msg})", location=loc)
    if "huge" in lowered or "resource limit" in lowered or "too long" in lowered:
        return XmlLimitError(f"text node or name too large ({msg})", location=loc)
    if "entity" in lowered or "doctype" in lowered or "dtd" in lowered:
        return XmlSecurityError(f"DTDs and entities are not allowed ({msg})", location=loc)
    if "document is empty" in lowered or "start tag expected" in lowered:
        return XmlSyntaxError(f"not an XML document ({msg})", location=loc)
    if "premature end" in lowered or "end of data" in lowered:
        return XmlSyntaxError(f"XML is truncated ({msg})", location=loc)
    return XmlSyntaxError(f"malformed XML: {msg}", location=loc)


def source_line(el: etree._Element) -> int | None:
    """The element's line in its source (lxml's stubs type ``sourceline`` loosely)."""
    line = getattr(el, "sourceline", None)
    return line if isinstance(line, int) else None


def _truncation_or(error: XmlError, raw: bytes) -> XmlError:
    """Name a syntax error on the input's last line, with no closing ``>``, as truncation.

    libxml2 reports a cut-off document by whatever construct it was inside ("Couldn't find end
    of Start Tag …"); the reader needs to hear that the file is incomplete.
    """
    line = error.location.line if error.location else None
    if not isinstance(error, XmlSyntaxError) or line is None:
        return error
    body = raw.rstrip()
    if line >= body.count(b"\n") + 1 and not body.endswith(b">"):
        return XmlSyntaxError(
            f"XML is truncated: it stops at line {line} before the document is complete ({error.message})",
            location=error.location,
        )
    return error


def _check_tree(root: etree._Element, name: str, limits: XmlLimits) -> None:
    tree = root.getroottree()
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise XmlSecurityError("a DOCTYPE/DTD is not allowed in gateway XML inputs", location=Location(name))
    for el in root.iter(f"{{{XINCLUDE_NS}}}*"):
        raise XmlSecurityError(
            "XInclude is not allowed", location=Location(name, line=source_line(el), path=tree.getpath(el))
        )
    # libxml2 enforces its own ceilings (depth 256, text 10M) only while huge mode is off; with
    # huge mode on (a limit above a ceiling) or a limit below one, the check is ours to make.
    huge = limits.max_depth > _LIBXML_MAX_DEPTH or limits.max_text_length > _LIBXML_MAX_TEXT
    if huge or limits.max_depth < _LIBXML_MAX_DEPTH:
        too_deep = root.xpath("/*" + "/*" * limits.max_depth)
        if isinstance(too_deep, list) and too_deep:
            first = too_deep[0]
            line = source_line(first) if isinstance(first, etree._Element) else None
            raise XmlLimitError(
                f"element nesting deeper than {limits.max_depth} levels (max_depth)",
                location=Location(name, line=line),
            )
    if huge or limits.max_text_length < _LIBXML_MAX_TEXT:
        cap = limits.max_text_length
        for el in root.iter():
            if not isinstance(el.tag, str):  # comment or PI: its own text is bounded by max_bytes
                texts = [("tail", el.tail)]
            else:
                texts = [("text", el.text), ("tail", el.tail)]
                texts += [(f"attribute {k}", v) for k, v in el.attrib.items()]
            for what, text in texts:
                if text is not None and len(text) > cap:
                    raise XmlLimitError(
                        f"{what} of {len(text)} characters, over {cap} (max_text_length)",
                        location=Location(name, line=source_line(el), path=tree.getpath(el)),
                    )


def parse_xml(
    data: XmlSource,
    *,
    source: str | None = None,
    limits: XmlLimits | None = None,
    base_url: str | None = None,
) -> etree._Element:
    """Parse bytes or a file path into an lxml element under the gateway's XML policy.

    ``base_url`` is only for trusted local files that include others (our own XSDs); network
    access stays off regardless.

    Raises :class:`XmlSecurityError`, :class:`XmlLimitError` or :class:`XmlSyntaxError`, each
    naming ``source`` (or the path) and the line where the problem was found.
    """
    lim = limits or DEFAULT_LIMITS
    name = _source_name(data, source)
    raw = _read_input(data, name, lim)
    if not raw.strip():
        raise XmlSyntaxError("not an XML document (input is empty)", location=Location(name))
    _check_counts(raw, name, lim)
    try:
        root = etree.fromstring(raw, _shared_parser(lim), base_url=base_url or "")
    except etree.XMLSyntaxError as exc:
        raise _truncation_or(translate_syntax_error(exc, name), raw) from exc
    if root is None:  # pragma: no cover - lxml raises instead, kept for type narrowing
        raise XmlSyntaxError("not an XML document", location=Location(name))
    _check_tree(root, name, lim)
    if raw.count(b"=") > lim.max_attributes:  # each attribute needs one '=': else nothing to check
        for el in root.iter():
            if len(el.attrib) > lim.max_attributes:
                raise _too_many_attributes(len(el.attrib), str(el.tag), name, lim, source_line(el))
    return root


class _StopCounting(Exception):
    """Raised from inside the counting target to abort the pre-pass at the first breach."""

    def __init__(self, error: InputLimitError):
        super().__init__(str(error))
        self.error = error


class _CountingTarget:
    """A tree-less pass that counts elements and attributes and stops at the first breach."""

    def __init__(self, name: str, limits: XmlLimits):
        self.name = name
        self.limits = limits
        self.elements = 0

    def start(self, tag: str, attrib: dict[str, str], nsmap: object = None) -> None:
        self.elements += 1
        if self.elements > self.limits.max_elements:
            raise _StopCounting(_too_many_elements(self.elements, self.name, self.limits))
        if len(attrib) > self.limits.max_attributes:
            raise _StopCounting(_too_many_attributes(len(attrib), tag, self.name, self.limits))

    def end(self, tag: str) -> None:
        pass

    def data(self, data: str) -> None:
        pass

    def close(self) -> int:
        return self.elements


def _too_many_elements(count: int, name: str, limits: XmlLimits) -> InputLimitError:
    return InputLimitError(
        "number of elements", limit="max_elements", value=count, maximum=limits.max_elements, location=Location(name)
    )


def _too_many_attributes(
    count: int, tag: str, name: str, limits: XmlLimits, line: int | None = None
) -> InputLimitError:
    local = tag.rsplit("}", 1)[-1]
    return InputLimitError(
        f"number of attributes on <{local}>",
        limit="max_attributes",
        value=count,
        maximum=limits.max_attributes,
        location=Location(name, line=line),
    )


def _check_counts(raw: bytes, name: str, limits: XmlLimits) -> None:
    """Refuse too many elements (or attributes on one element) before any tree is built.

    Each element opens with one ``<`` not followed by ``/``, ``?`` or ``!``, so the byte counts
    bound the element count from above (``<`` inside comments and CDATA only inflate the bound).
    Only when the bound is over the limit does an exact, tree-less pass run, stopping at the
    first breach: memory stays bounded whatever the input holds.
    """
    opening = raw.count(b"<")
    if opening <= limits.max_elements:  # already under the limit before subtracting: one scan
        return
    bound = opening - raw.count(b"</") - raw.count(b"<?") - raw.count(b"<!")
    if bound <= limits.max_elements:
        return
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True,
        target=_CountingTarget(name, limits),  # type: ignore[arg-type]
    )  # fmt: skip
    parser.resolvers.add(_REFUSE_EXTERNAL)
    try:
        for offset in range(0, len(raw), 1 << 16):
            parser.feed(raw[offset : offset + (1 << 16)])
        parser.close()
    except _StopCounting as stop:
        raise stop.error from None
    except etree.XMLSyntaxError:
        return  # the real parse reports it with the proper message


class ParserTarget(Protocol):
    """The lxml target-parser interface that :func:`feed_target` drives."""

    def start(self, tag: str, attrib: dict[str, str], nsmap: dict[str | None, str] | None = None) -> Any: ...
    def end(self, tag: str) -> Any: ...
    def data(self, data: str) -> None: ...
    def close(self) -> Any: ...


class LimitedTarget:
    """Wrap a target parser with the depth/text/DTD policy.

    ``streamed`` names elements (Clark notation ``{ns}local``) whose text is *not* subject to
    ``max_text_length`` because the inner target streams it out of memory.
    """

    def __init__(self, inner: ParserTarget, limits: XmlLimits, name: str, streamed: Iterable[str] = ()):
        self.inner = inner
        self.limits = limits
        self.name = name
        self.streamed = frozenset(streamed)
        self.depth = 0
        self.elements = 0
        self._text_len = 0
        self._stack: list[str] = []

    def doctype(self, *_args: object) -> None:
        raise XmlSecurityError("a DOCTYPE/DTD is not allowed in gateway XML inputs", location=Location(self.name))

    def start(self, tag: str, attrib: dict[str, str], nsmap: dict[str | None, str] | None = None) -> Any:
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise XmlLimitError(
                f"element nesting deeper than {self.limits.max_depth} levels (max_depth)",
                location=Location(self.name, path="/".join(t.rsplit("}", 1)[-1] for t in self._stack[:8])),
            )
        if tag.startswith(f"{{{XINCLUDE_NS}}}"):
            raise XmlSecurityError("XInclude is not allowed", location=Location(self.name))
        self.elements += 1
        if self.elements > self.limits.max_elements:
            raise _too_many_elements(self.elements, self.name, self.limits)
        if len(attrib) > self.limits.max_attributes:
            raise _too_many_attributes(len(attrib), tag, self.name, self.limits)
        for key, value in attrib.items():
            if len(value) > self.limits.max_text_length:
                raise XmlLimitError(
                    f"attribute {key} of {len(value)} characters, over {self.limits.max_text_length} "
                    "(max_text_length)",
                    location=Location(self.name, path="/" + "/".join(t.rsplit("}", 1)[-1] for t in self._stack)),
                )
        self._stack.append(tag)
        self._text_len = 0
        return self.inner.start(tag, attrib, nsmap)

    def end(self, tag: str) -> Any:
        self.depth -= 1
        self._stack.pop()
        self._text_len = 0
        return self.inner.end(tag)

    def data(self, data: str) -> None:
        if self._stack and self._stack[-1] not in self.streamed:
            self._text_len += len(data)
            if self._text_len > self.limits.max_text_length:
                raise XmlLimitError(
                    f"text of more than {self.limits.max_text_length} characters (max_text_length)",
                    location=Location(self.name, path="/" + "/".join(t.rsplit("}", 1)[-1] for t in self._stack)),
                )
        self.inner.data(data)

    def comment(self, _text: str) -> None:
        """Comments are dropped."""

    def pi(self, _target: str, _data: str | None = None) -> None:
        """Processing instructions are dropped."""

    def close(self) -> Any:
        return self.inner.close()


def feed_target(
    stream: IO[bytes],
    target: ParserTarget,
    *,
    source: str,
    limits: XmlLimits | None = None,
    streamed: Iterable[str] = (),
    max_bytes: int | None = None,
) -> Any:
    """Feed a byte stream chunk by chunk into ``target`` under the XML policy; return ``close()``.

    ``max_bytes`` (default ``limits.max_bytes``) bounds the total input; elements named in
    ``streamed`` may carry text larger than ``max_text_length``.
    """
    lim = limits or DEFAULT_LIMITS
    cap = lim.max_bytes if max_bytes is None else max_bytes
    guarded = LimitedTarget(target, lim, source, streamed)
    # huge_tree lets libxml2 hand over big text nodes; our LimitedTarget enforces the real limits.
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=True,
        target=guarded,  # type: ignore[arg-type]
    )
    parser.resolvers.add(_REFUSE_EXTERNAL)
    total = 0
    try:
        while True:
            chunk = stream.read(_CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if total > cap:
                raise XmlLimitError(f"input larger than {cap} bytes (max_bytes)", location=Location(source))
            parser.feed(chunk)
        if total == 0:
            raise XmlSyntaxError("not an XML document (input is empty)", location=Location(source))
        return parser.close()
    except etree.XMLSyntaxError as exc:
        raise translate_syntax_error(exc, source) from exc


__all__ = [
    "DEFAULT_LIMITS",
    "XINCLUDE_NS",
    "LimitedTarget",
    "ParserTarget",
    "XmlLimits",
    "compile_schema",
    "feed_target",
    "make_parser",
    "parse_schema_document",
    "parse_xml",
    "source_line",
    "translate_syntax_error",
]
