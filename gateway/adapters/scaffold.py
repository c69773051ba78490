"""``lienthong adapters new``: a starting folder for a new legacy system, from its XSD or WSDL.

The scaffold copies the legacy schema into the folder, writes a manifest, a mapping skeleton that
lists every legacy path of the chosen document element (as comments next to the edXML fields a
mapping must fill) and an example fixture generated from the schema's types.  The adapter does
not load until the integrator has mapped the required fields: the loader's message lists them.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import xmlschema

from gateway.adapters.schema import LegacySchema
from gateway.adapters.targets import EDOC_REQUIRED, EDOC_TARGETS, GROUP_REQUIRED
from gateway.errors import ConfigurationError
from gateway.xml import parse_schema_document

_SAMPLES = {
    "date": "2024-01-31", "dateTime": "2024-01-31T08:00:00", "int": "1", "integer": "1", "long": "1",
    "positiveInteger": "1", "nonNegativeInteger": "1", "short": "1", "boolean": "true", "decimal": "1",
    "base64Binary": "JVBERi0xLjQK", "anyURI": "cid:file1",
}  # fmt: skip
_XSD = "http://www.w3.org/2001/XMLSchema"


def _sample(xtype: Any) -> str:
    enums = getattr(xtype, "enumeration", None)
    if enums:
        return str(enums[0])
    base, seen = xtype, set()
    while base is not None and id(base) not in seen:
        seen.add(id(base))
        name = getattr(base, "local_name", None) or ""
        if getattr(base, "target_namespace", None) == _XSD and name in _SAMPLES:
            return _SAMPLES[name]
        base = getattr(base, "base_type", None) or getattr(base, "primitive_type", None)
    return "TODO"


def _paths(decl: Any, prefix: str, out: list[str], depth: int = 0) -> None:
    for name, attr in (getattr(decl, "attributes", {}) or {}).items():
        if name:
            out.append(f"{prefix}@{name}    ({attr.type.local_name or 'string'})")
    content = getattr(decl.type, "content", None)
    if depth > 8 or content is None or not hasattr(content, "iter_elements"):
        return
    for child in content.iter_elements():
        if not hasattr(child, "local_name") or child.local_name is None:
            continue
        occurs = "" if child.max_occurs == 1 else "  (repeated)"
        simple = child.type.is_simple() or child.type.has_simple_content()
        type_name = child.type.local_name or ("text" if simple else "complex")
        out.append(f"{prefix}{child.local_name}    ({type_name}){occurs}")
        if not simple or getattr(child, "attributes", None):
            _paths(child, f"{prefix}{child.local_name}/", out, depth + 1)


def _example(decl: Any, depth: int = 0) -> str:
    name = decl.local_name
    attrs = "".join(f' {n}="{_sample(a.type)}"' for n, a in (getattr(decl, "attributes", {}) or {}).items() if n)
    xtype = decl.type
    if xtype.is_simple() or xtype.has_simple_content():
        return f"<{name}{attrs}>{_sample(xtype if xtype.is_simple() else xtype.content)}</{name}>"
    content = getattr(xtype, "content", None)
    kids = ""
    if content is not None and depth < 8 and hasattr(content, "iter_elements"):
        kids = "".join(_example(c, depth + 1) for c in content.iter_elements() if getattr(c, "local_name", None))
    return f"<{name}{attrs}>{kids}</{name}>"


def _child_count(decl: Any) -> int:
    content = getattr(decl.type, "content", None)
    return len(list(content.iter_elements())) if content is not None and hasattr(content, "iter_elements") else 0


def _repeated_document_child(decl: Any) -> Any:
    """The one complex, repeated child of a batch root (``GoiVanBan/VanBan``), else None."""
    content = getattr(decl.type, "content", None)
    if content is None or not hasattr(content, "iter_elements"):
        return None
    kids = [c for c in content.iter_elements() if getattr(c, "local_name", None)]
    complex_repeated = [c for c in kids if not c.type.is_simple() and (c.max_occurs is None or c.max_occurs > 1)]
    if len(complex_repeated) == 1 and len(kids) - 1 <= 2:  # a batch may carry a header or two beside its items
        return complex_repeated[0]
    return None


def scaffold(
    code: str,
    schema_file: Path,
    root: Path,
    *,
    wsdl: Path | None = None,
    element: str | None = None,
    sample: Path | None = None,
) -> Path:
    """Create ``root/code`` from a legacy XSD (and optionally its WSDL); return the folder.

    With ``sample`` (a real export), the mapping is drafted from it (:mod:`gateway.adapters.draft`)
    and the sample becomes the first fixture; :func:`last_draft` returns the proposals.
    """
    if not re.match(r"^[a-z][a-z0-9_]{1,48}$", code):
        raise ConfigurationError(f"adapter code {code!r} must be lower_snake (letters, digits, _)")
    folder = root / code
    if folder.exists():
        raise ConfigurationError(f"{folder} already exists; choose another code or remove it")
    parse_schema_document(schema_file, folder=schema_file.parent)  # refuses DTDs and foreign loads early
    try:
        xs = xmlschema.XMLSchema(str(schema_file.resolve()), allow="sandbox", defuse="always")
    except xmlschema.XMLSchemaException as exc:
        raise ConfigurationError(f"{schema_file}: not a usable XSD: {exc}") from exc
    candidates = [e for e in xs.elements.values() if not e.type.is_simple()]
    ns = xs.target_namespace or ""
    if element:
        element_path = element.strip("/")
        chosen = LegacySchema(schema_file.resolve()).declaration(element_path, {"": ns} if ns else {})
    elif candidates:
        chosen = max(candidates, key=_child_count)
        element_path = str(chosen.local_name)
        # A batch root (GoiVanBan holding VanBan*) is not one document: descend to the repeated child.
        while (inner := _repeated_document_child(chosen)) is not None:
            chosen = inner
            element_path += f"/{inner.local_name}"
    else:
        raise ConfigurationError(f"{schema_file} declares no complex global element to map")
    folder.mkdir(parents=True)
    (folder / "xsd").mkdir()
    for sibling in schema_file.parent.glob("*.xsd"):  # imports/includes usually sit beside it
        shutil.copy2(sibling, folder / "xsd" / sibling.name)
    wsdl_line = ""
    if wsdl is not None:
        (folder / "wsdl").mkdir()
        shutil.copy2(wsdl, folder / "wsdl" / wsdl.name)
        wsdl_line = f'wsdl = "wsdl/{wsdl.name}"\n'
    (folder / "fixtures").mkdir()
    (folder / "adapter.toml").write_text(
        f'code = "{code}"\nversion = 1\ntitle = "{code}"\ndirections = ["to_edxml", "to_legacy"]\n'
        f'encoding = "utf-8"   # or utf-8-nfd, windows-1258, tcvn3\ncontainer = "xml"\n'
        f'schema = "xsd/{schema_file.name}"\n{wsdl_line}mapping = "mapping.toml"\nfixtures = "fixtures"\n\n'
        f'[transport]\nkind = "{"soap" if wsdl else "filedrop"}"\n',
        encoding="utf-8",
    )
    paths: list[str] = []
    _paths(chosen, "", paths)
    lines = [
        f"# Mapping skeleton for {code}, generated from {schema_file.name} (element {element_path}).",
        "# Fill in the edXML fields below with legacy paths; see docs/writing-an-adapter.md.",
        "",
        "[namespaces]",
        f'"" = "{ns}"',
        "",
        "[organs]",
        '# "LEGACY-CODE" = "000.00.00.H41"',
        "",
        "[edoc]",
        f'element = "{element_path}"',
        "",
        "# Legacy paths available under this element:",
        *[f"#   {p}" for p in paths],
        "",
        "[edoc.fields]",
        *[f'# "{t}" = "LEGACY/PATH"    (required)' for t in EDOC_REQUIRED],
        '# "code" = { path = "LEGACY/PATH", convert = "code" }    (required: "123/QĐ-UBND" form)',
        *[f'# "{t}" = ...' for t in EDOC_TARGETS if t not in EDOC_REQUIRED and t != "code"],
        "",
        "# [edoc.groups.to]   (required: the recipients)",
        '# path = "LEGACY/REPEATED/ELEMENT"',
        f"# fields = {{ {', '.join(f'{f} = ...' for f in GROUP_REQUIRED['to'])} }}",
        "",
    ]
    if sample is not None:
        from gateway.adapters.draft_render import render_mapping
        from gateway.adapters.draft_sample import draft_from

        draft = draft_from(LegacySchema(schema_file.resolve()), element_path, sample)
        _LAST_DRAFT[str(folder)] = draft
        (folder / "mapping.toml").write_text(render_mapping(draft, source=sample.name), encoding="utf-8")
        (folder / "fixtures" / f"{sample.name.split('.')[0]}.in{sample.suffix}").write_bytes(sample.read_bytes())
    else:
        (folder / "mapping.toml").write_text("\n".join(lines), encoding="utf-8")
    if sample is None:
        xmlns = f' xmlns="{ns}"' if ns else ""
        example = _example(chosen)
        example = example.replace(f"<{chosen.local_name}", f"<{chosen.local_name}{xmlns}", 1)
        (folder / "fixtures" / "example.in.xml").write_text(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<!-- generated from the schema: replace with a real document -->\n{example}\n",
            encoding="utf-8",
        )
    (folder / "README.md").write_text(
        f"# {code}\n\nLegacy system: TODO (who runs it, which version, contact).\n\n"
        "Generated by `lienthong adapters new`. Next steps: docs/writing-an-adapter.md.\n",
        encoding="utf-8",
    )
    return folder


_LAST_DRAFT: dict[str, Any] = {}


def last_draft(folder: Path) -> Any:
    """The draft :func:`scaffold` made for ``folder`` with a sample (None without one)."""
    return _LAST_DRAFT.get(str(folder))


__all__ = ["last_draft", "scaffold"]
