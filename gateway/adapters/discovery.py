"""Finding adapters: folders under ``adapters/`` and packages registered in an entry-point group.

Both sources end in the same place, a folder with an ``adapter.toml``, loaded by the same code,
so an adapter shipped as a separate distribution behaves exactly like a built-in one.  An entry
point of group ``lienthong.adapters`` names the folder: ``my_pkg:ADAPTER_DIR`` (a path) or a
callable returning one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Final

from gateway.adapters.adapter import Adapter
from gateway.adapters.converters import OrganLookup
from gateway.adapters.manifest import MANIFEST_NAME, AdapterManifest, load_manifest
from gateway.errors import ConfigurationError, GatewayError
from gateway.limits import DEFAULT_INPUT_LIMITS, InputLimits

ENTRY_POINT_GROUP: Final = "lienthong.adapters"


def default_adapter_dirs() -> tuple[Path, ...]:
    """``LIENTHONG_ADAPTERS_DIR`` (os.pathsep-separated) or the checkout's ``adapters/`` folder."""
    env = os.environ.get("LIENTHONG_ADAPTERS_DIR")
    if env:
        return tuple(Path(p) for p in env.split(os.pathsep) if p)
    return (Path(__file__).resolve().parents[2] / "adapters",)


@dataclass(frozen=True)
class FoundAdapter:
    """One adapter folder found by discovery, with its manifest or the problem that stopped it."""

    folder: Path
    origin: str
    manifest: AdapterManifest | None = None
    problem: str | None = None

    @property
    def code(self) -> str:
        return self.manifest.code if self.manifest else self.folder.name


def _entry_point_folders() -> Iterable[tuple[Path | None, str, str | None]]:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        origin = f"entry point {ep.name} ({ep.value})"
        try:
            target = ep.load()
            folder = target() if callable(target) else target
            yield Path(os.fspath(folder)), origin, None
        except Exception as exc:  # a broken plug-in must not hide the others
            yield None, origin, f"cannot load: {type(exc).__name__}: {exc}"


def discover(folders: Sequence[Path] | None = None, *, use_entry_points: bool = True) -> list[FoundAdapter]:
    """Every adapter folder, sorted by code; problems are reported, not raised."""
    found: list[FoundAdapter] = []
    candidates: list[tuple[Path | None, str, str | None]] = []
    for base in folders if folders is not None else default_adapter_dirs():
        if base.is_dir():
            candidates += [(p.parent, "folder", None) for p in sorted(base.glob(f"*/{MANIFEST_NAME}"))]
    if use_entry_points:
        candidates += list(_entry_point_folders())
    seen: dict[str, FoundAdapter] = {}
    for folder, origin, problem in candidates:
        if folder is None:
            found.append(FoundAdapter(Path("?"), origin, problem=problem))
            continue
        try:
            manifest = load_manifest(folder, origin=origin)
        except GatewayError as exc:
            found.append(FoundAdapter(folder, origin, problem=str(exc)))
            continue
        if manifest.code in seen:
            found.append(
                FoundAdapter(folder, origin, manifest,
                             problem=f"code {manifest.code!r} already provided by {seen[manifest.code].folder}")
            )  # fmt: skip
            continue
        item = FoundAdapter(folder, origin, manifest)
        seen[manifest.code] = item
        found.append(item)
    return sorted(found, key=lambda f: (f.code, f.origin))


class AdapterRegistry:
    """Discovered adapters by code, loaded on first use and cached (thread-safe)."""

    def __init__(
        self,
        folders: Sequence[Path] | None = None,
        *,
        use_entry_points: bool = True,
        organs: OrganLookup | None = None,
        limits: InputLimits = DEFAULT_INPUT_LIMITS,
    ):
        self.limits = limits  # every adapter it loads judges its input against these (hub.toml [limits])
        self._found = {f.code: f for f in discover(folders, use_entry_points=use_entry_points) if f.problem is None}
        self._organs = organs
        self._loaded: dict[str, Adapter] = {}
        self._lock = threading.Lock()

    def codes(self) -> list[str]:
        return sorted(self._found)

    def get(self, code: str) -> Adapter:
        """The loaded adapter; :class:`ConfigurationError` when unknown or broken."""
        with self._lock:
            if code in self._loaded:
                return self._loaded[code]
            found = self._found.get(code)
            if found is None or found.manifest is None:
                known = ", ".join(self.codes()) or "none"
                raise ConfigurationError(f"unknown adapter {code!r}; discovered: {known}")
            adapter = Adapter(found.manifest, organs=self._organs, limits=self.limits)
            self._loaded[code] = adapter
            return adapter


__all__ = ["ENTRY_POINT_GROUP", "AdapterRegistry", "FoundAdapter", "default_adapter_dirs", "discover"]
