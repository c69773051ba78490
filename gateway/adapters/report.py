"""Per-document results and the translation report of a batch.

A batch never fails as a whole: each document gets a :class:`DocumentResult` that is either a
package or a list of :class:`DocumentError` naming adapter, document index and id, legacy path,
line and what was expected.  The report renders as a summary table for people and as a dict
for machines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gateway.edxml.model import EdocPackage, StatusPackage
from gateway.errors import Location, MappingContext, MappingError

#: The index of a problem with the whole input (unreadable, truncated, undecodable): no document
#: of it could be told apart, so it is labelled "file", never "document 1".
FILE_LEVEL = 0


@dataclass(frozen=True)
class DocumentError:
    """One problem with one document of a batch."""

    adapter: str
    index: int  # 1-based position of the document in its batch; FILE_LEVEL (0) for the whole input
    legacy_id: str | None
    message: str
    legacy_path: str | None = None
    line: int | None = None
    field: str | None = None
    source: str | None = None

    def __str__(self) -> str:
        where = ", ".join(
            p
            for p in (
                ("file " + (self.source or "")).strip() if self.index == FILE_LEVEL
                else f"document {self.index}" + (f" ({self.legacy_id})" if self.legacy_id else ""),
                f"line {self.line}" if self.line else "",
                self.legacy_path or "",
                f"edXML {self.field}" if self.field else "",
            )
            if p
        )
        return f"[{self.adapter}] {where}: {self.message}"

    def to_exception(self) -> MappingError:
        """The same problem as a gateway exception (for callers that raise)."""
        return MappingError(
            self.message,
            context=MappingContext(self.adapter, self.legacy_id or self.index, self.legacy_path, self.field),
            location=Location(self.source, line=self.line),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "adapter": self.adapter, "index": self.index, "legacy_id": self.legacy_id,
            "message": self.message,
            "legacy_path": self.legacy_path, "line": self.line, "field": self.field, "source": self.source,
        }  # fmt: skip


@dataclass(frozen=True)
class DocumentResult:
    """The outcome for one legacy document: a package (and its edXML bytes) or errors."""

    index: int
    legacy_id: str | None
    kind: str | None
    package: EdocPackage | StatusPackage | None = None
    edxml: bytes | None = None
    errors: tuple[DocumentError, ...] = ()
    source: str | None = None
    # Departures the lenient reader tolerated (schema issues the mapping could read past, dates
    # in an alternative format, ...), each with its line and path: accepted, but never silently.
    warnings: tuple[DocumentError, ...] = ()

    @property
    def ok(self) -> bool:
        return self.package is not None and not self.errors

    @property
    def verdict(self) -> str:
        """``valid``, ``accepted with warnings`` or ``invalid`` (the words of ``lienthong validate``)."""
        if not self.ok:
            return "invalid"
        return "accepted with warnings" if self.warnings else "valid"

    @property
    def document_id(self) -> str | None:
        pkg = self.package
        if isinstance(pkg, EdocPackage):
            return pkg.header.document_id
        if isinstance(pkg, StatusPackage):
            return pkg.response_for.document_id
        return None


@dataclass
class TranslationReport:
    """ok / failed per document for one or more inputs of one adapter."""

    adapter: str
    results: list[DocumentResult] = field(default_factory=list)

    def extend(self, results: Iterable[DocumentResult]) -> None:
        self.results.extend(results)

    @property
    def ok(self) -> list[DocumentResult]:
        return [r for r in self.results if r.ok]

    @property
    def failed(self) -> list[DocumentResult]:
        return [r for r in self.results if not r.ok]

    @property
    def errors(self) -> list[DocumentError]:
        return [e for r in self.results for e in r.errors]

    @property
    def warnings(self) -> list[DocumentError]:
        return [w for r in self.results for w in r.warnings]

    def as_dict(self) -> dict[str, Any]:
        return {
            "adapter": self.adapter,
            "total": len(self.results),
            "ok": len(self.ok),
            "failed": len(self.failed),
            "documents": [
                {
                    "index": r.index, "legacy_id": r.legacy_id, "kind": r.kind, "ok": r.ok,
                    "document_id": r.document_id, "source": r.source, "verdict": r.verdict,
                    "errors": [e.as_dict() for e in r.errors],
                    "warnings": [w.as_dict() for w in r.warnings],
                }
                for r in self.results
            ],
        }  # fmt: skip


def tolerated(departures: Iterable[DocumentError]) -> Iterable[DocumentError]:
    """Schema departures the mapping read past, relabelled as warnings (same line and path)."""
    for d in departures:
        message = d.message.replace("legacy schema: ", "legacy schema (tolerated): ", 1)
        yield DocumentError(d.adapter, d.index, d.legacy_id, message, d.legacy_path, d.line, d.field, d.source)


__all__ = ["FILE_LEVEL", "DocumentError", "DocumentResult", "TranslationReport", "tolerated"]
