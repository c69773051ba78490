"""``lienthong adapters diff``: a mapping change reviewed on real traffic before it goes live.

A corpus (recorded legacy exports, fixtures) is translated twice: with the adapter as it is now
and with an earlier version of it (a git revision of the repository, or another folder). The
packages are compared field by field in mapping names (``subject``, ``to[2].organ_id``,
``attachments[1].name``), so the report says which documents change, which fields and from what
to what, and which documents newly fail or newly pass.
"""

from __future__ import annotations

import subprocess
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.adapters.adapter import Adapter
from gateway.adapters.manifest import load_manifest
from gateway.adapters.report import DocumentResult
from gateway.adapters.targets import flatten_edoc, flatten_status
from gateway.edxml.model import EdocPackage
from gateway.errors import ConfigurationError


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: str | None
    after: str | None


@dataclass
class DocumentDiff:
    """One document of the corpus: its outcome before and after, and the changed fields."""

    source: str
    index: int
    legacy_id: str | None
    before: str  # verdict: valid / accepted with warnings / invalid
    after: str
    changes: list[FieldChange] = field(default_factory=list)
    errors_before: list[str] = field(default_factory=list)
    errors_after: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes) or self.before != self.after

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "index": self.index, "legacy_id": self.legacy_id,
            "before": self.before, "after": self.after,
            "changes": [c.__dict__ for c in self.changes],
            "errors_before": self.errors_before, "errors_after": self.errors_after,
        }  # fmt: skip


def flat_fields(result: DocumentResult) -> dict[str, str]:
    """A package as ``{mapping name: text}`` (group items numbered from 1)."""
    pkg = result.package
    if pkg is None:
        return {}
    ex = flatten_edoc(pkg) if isinstance(pkg, EdocPackage) else flatten_status(pkg)
    out = {k: _text(v) for k, v in ex.values.items() if v is not None}
    for name, items in ex.groups.items():
        for i, item in enumerate(items, start=1):
            out.update({f"{name}[{i}].{k}": _text(v) for k, v in item.items() if v is not None})
    return out


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        import hashlib

        return f"<{len(value)} bytes sha256:{hashlib.sha256(value).hexdigest()[:16]}>"
    raw = getattr(value, "value", value) if not isinstance(value, str) else value
    return str(raw)


def compare(before: list[DocumentResult], after: list[DocumentResult], source: str) -> list[DocumentDiff]:
    """Pair the documents of one input by position and compare them field by field."""
    diffs: list[DocumentDiff] = []
    for i in range(max(len(before), len(after))):
        b = before[i] if i < len(before) else None
        a = after[i] if i < len(after) else None
        fb = flat_fields(b) if b else {}
        fa = flat_fields(a) if a else {}
        changes = [FieldChange(k, fb.get(k), fa.get(k)) for k in sorted(set(fb) | set(fa)) if fb.get(k) != fa.get(k)]
        either = a or b
        diffs.append(
            DocumentDiff(
                source=source,
                index=i + 1,
                legacy_id=either.legacy_id if either else None,
                before=b.verdict if b else "absent",
                after=a.verdict if a else "absent",
                changes=changes,
                errors_before=[str(e) for e in b.errors] if b else [],
                errors_after=[str(e) for e in a.errors] if a else [],
            )
        )
    return diffs


def earlier_adapter(current: Adapter, against: str, *, repo: Path | None = None) -> tuple[Adapter, Any]:
    """The adapter as it was: ``against`` is a folder, or a git revision of the repository holding it.

    Returns the adapter and the temporary folder keeping its files alive (or None).
    """
    folder = Path(against)
    if folder.is_dir():
        return Adapter(load_manifest(folder.resolve())), None
    top = repo or _git_top(current.manifest.folder)
    rel = current.manifest.folder.resolve().relative_to(top)
    tmp = tempfile.TemporaryDirectory(prefix="lienthong-diff-")
    try:
        archive = subprocess.run(["git", "-C", str(top), "archive", "--format=tar", against, "--", str(rel)],
                                 capture_output=True, check=False)  # fmt: skip
        if archive.returncode != 0:
            raise ConfigurationError(
                f"cannot read adapter {current.code} at {against!r}: {archive.stderr.decode(errors='replace').strip()}"
            )
        tar_path = Path(tmp.name) / "adapter.tar"
        tar_path.write_bytes(archive.stdout)
        with tarfile.open(tar_path) as tar:
            tar.extractall(Path(tmp.name) / "tree", filter="data")
        return Adapter(load_manifest(Path(tmp.name) / "tree" / rel)), tmp
    except BaseException:
        tmp.cleanup()
        raise


def _git_top(folder: Path) -> Path:
    out = subprocess.run(["git", "-C", str(folder), "rev-parse", "--show-toplevel"], capture_output=True, check=False)
    if out.returncode != 0:
        raise ConfigurationError(f"{folder} is not in a git repository; give --against a folder instead")
    return Path(out.stdout.decode().strip())


def diff_corpus(current: Adapter, earlier: Adapter, paths: Iterable[Path]) -> list[DocumentDiff]:
    """Translate every file with both versions and compare document by document."""
    diffs: list[DocumentDiff] = []
    for path in paths:
        data = path.read_bytes()
        before = earlier.translate_bytes(data, source=str(path), base_dir=path.parent)
        after = current.translate_bytes(data, source=str(path), base_dir=path.parent)
        diffs += compare(before, after, str(path))
    return diffs


__all__ = ["DocumentDiff", "FieldChange", "compare", "diff_corpus", "earlier_adapter", "flat_fields"]
