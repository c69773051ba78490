"""The adapter manifest (``adapter.toml``): what an adapter folder declares, checked strictly.

Unknown keys, missing files and paths that leave the adapter folder are configuration errors
that name the manifest and the key, so an integrator's typo fails at load, not at 2 a.m.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from gateway.adapters.encodings import check_encoding
from gateway.errors import ConfigurationError
from gateway.files import read_toml

MANIFEST_NAME: Final = "adapter.toml"
DIRECTIONS: Final = frozenset({"to_edxml", "to_legacy"})
CONTAINERS: Final = frozenset({"xml", "mime"})
TRANSPORTS: Final = frozenset({"soap", "filedrop", "none"})
VALIDATION_MODES: Final = frozenset({"lenient", "strict"})
_TOP: Final = frozenset(
    {"code", "version", "title", "description", "directions", "encoding", "container", "schema", "wsdl",
     "mapping", "hooks", "fixtures", "transport", "validation", "encoding_fallback"}
)  # fmt: skip
_TRANSPORT_KEYS: Final[dict[str, frozenset[str]]] = {
    "soap": frozenset({"kind", "pull", "push", "push_wsdl", "timeout", "endpoint", "operations"}),
    "filedrop": frozenset({"kind", "pattern", "outgoing_name", "with_files"}),
    "none": frozenset({"kind"}),
}
SOAP_OPERATIONS: Final = frozenset({"list_pending", "fetch", "acknowledge", "deliver", "report_status", "submit"})
_CODE: Final = re.compile(r"^[a-z][a-z0-9_]{1,48}$")


@dataclass(frozen=True)
class TransportSettings:
    """How the gateway talks to the legacy system (settings already checked)."""

    kind: str
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def push(self) -> bool:
        return bool(self.settings.get("push", False))

    @property
    def operations(self) -> Mapping[str, str]:
        ops = self.settings.get("operations", {})
        return dict(ops) if isinstance(ops, Mapping) else {}


@dataclass(frozen=True)
class AdapterManifest:
    """A loaded ``adapter.toml`` with every path resolved inside the adapter folder."""

    code: str
    version: int
    title: str
    folder: Path
    directions: frozenset[str]
    encoding: str
    container: str
    schema: Path
    mapping: Path
    fixtures: Path
    transport: TransportSettings
    wsdl: Path | None = None
    push_wsdl: Path | None = None
    hooks: Path | None = None
    description: str = ""
    origin: str = "folder"  # "folder" or "entry point <name>"
    # How legacy input (to_edxml) meets its XSD: "lenient" accepts departures the mapping can read
    # past (unknown elements, child order, empty optional elements ...) as warnings; "strict"
    # refuses them. The reverse direction is always strict: our output is valid by construction.
    validation: str = "lenient"
    # With ``encoding = "declared"``: how a file that declares no encoding is read.
    encoding_fallback: str = "utf-8"

    @property
    def can_push(self) -> bool:
        return self.transport.kind == "soap" and self.transport.push and self.push_wsdl is not None


def _inside(folder: Path, rel: Any, key: str, where: str, *, must_exist: bool = True) -> Path:
    if not isinstance(rel, str) or not rel.strip():
        raise ConfigurationError(f"{where}: {key} must be a relative path string")
    if Path(rel).is_absolute():
        raise ConfigurationError(f"{where}: {key} = {rel!r} must be relative to the adapter folder")
    base = folder.resolve()
    target = (base / rel).resolve()
    if not target.is_relative_to(base):
        raise ConfigurationError(f"{where}: {key} = {rel!r} leaves the adapter folder")
    if must_exist and not target.exists():
        raise ConfigurationError(f"{where}: {key} = {rel!r} does not exist")
    return target


def load_manifest(folder: Path, *, origin: str = "folder") -> AdapterManifest:
    """Read and check ``folder/adapter.toml``."""
    path = folder / MANIFEST_NAME
    where = str(path)
    data = read_toml(path, "adapter manifest")
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise ConfigurationError(f"{where}: unknown key(s) {', '.join(unknown)}")
    for key in ("code", "version", "schema", "mapping"):
        if key not in data:
            raise ConfigurationError(f"{where}: missing required key {key!r}")
    code = data["code"]
    if not isinstance(code, str) or not _CODE.match(code):
        raise ConfigurationError(f"{where}: code {code!r} must be lower_snake (letters, digits, _)")
    version = data["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ConfigurationError(f"{where}: version must be a positive integer")
    directions = data.get("directions", ["to_edxml", "to_legacy"])
    if not isinstance(directions, list) or not directions or set(directions) - DIRECTIONS:
        raise ConfigurationError(f"{where}: directions must be a non-empty list drawn from {sorted(DIRECTIONS)}")
    container = str(data.get("container", "xml"))
    if container not in CONTAINERS:
        raise ConfigurationError(f"{where}: container must be one of {sorted(CONTAINERS)}")
    transport = _transport(data.get("transport", {"kind": "none"}), folder, where)
    validation = data.get("validation", "lenient")
    if validation not in VALIDATION_MODES:
        raise ConfigurationError(f"{where}: validation = {validation!r} must be one of {sorted(VALIDATION_MODES)}")
    push_wsdl = transport.settings.get("push_wsdl")
    return AdapterManifest(
        code=code,
        version=version,
        title=str(data.get("title", code)),
        description=str(data.get("description", "")),
        folder=folder.resolve(),
        directions=frozenset(directions),
        encoding=check_encoding(str(data.get("encoding", "utf-8"))),
        container=container,
        schema=_inside(folder, data["schema"], "schema", where),
        mapping=_inside(folder, data["mapping"], "mapping", where),
        fixtures=_inside(folder, data.get("fixtures", "fixtures"), "fixtures", where, must_exist=False),
        wsdl=_inside(folder, data["wsdl"], "wsdl", where) if "wsdl" in data else None,
        push_wsdl=_inside(folder, push_wsdl, "transport.push_wsdl", where) if push_wsdl else None,
        hooks=_inside(folder, data["hooks"], "hooks", where) if "hooks" in data else None,
        transport=transport,
        origin=origin,
        validation=str(validation),
        encoding_fallback=_fallback(data, where),
    )


def _fallback(data: Mapping[str, Any], where: str) -> str:
    if "encoding_fallback" not in data:
        return "utf-8"
    if data.get("encoding", "utf-8") != "declared":
        raise ConfigurationError(f'{where}: encoding_fallback only applies with encoding = "declared"')
    fallback = check_encoding(str(data["encoding_fallback"]))
    if fallback == "declared":
        raise ConfigurationError(f"{where}: encoding_fallback must name a real encoding")
    return fallback


def _transport(data: Any, folder: Path, where: str) -> TransportSettings:
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{where}: [transport] must be a table")
    kind = str(data.get("kind", "none"))
    if kind not in TRANSPORTS:
        raise ConfigurationError(f"{where}: transport.kind must be one of {sorted(TRANSPORTS)}")
    unknown = sorted(set(data) - _TRANSPORT_KEYS[kind])
    if unknown:
        raise ConfigurationError(f"{where}: unknown key(s) in [transport] for kind {kind!r}: {', '.join(unknown)}")
    ops = data.get("operations", {})
    if not isinstance(ops, Mapping) or set(ops) - SOAP_OPERATIONS:
        raise ConfigurationError(f"{where}: transport.operations keys must be drawn from {sorted(SOAP_OPERATIONS)}")
    timeout = data.get("timeout", 30.0)
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ConfigurationError(f"{where}: transport.timeout must be a positive number of seconds")
    return TransportSettings(kind=kind, settings=dict(data))


__all__ = ["MANIFEST_NAME", "AdapterManifest", "TransportSettings", "load_manifest"]
