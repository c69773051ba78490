"""The legacy side of an exchange, whatever the transport: SOAP pull or file drop.

The exchange stages talk to a legacy system through five calls — ``pending``, ``fetch``,
``acknowledge``, ``deliver``, ``close`` — which :class:`gateway.transport.soap.LegacySoapConnector`
already offers for SOAP adapters. :class:`FileDropConnector` offers the same for the file-drop
adapters (``transport.kind = "filedrop"``): the inbox is the queue, *fetch* translates the claimed
file, *acknowledge* moves it to ``done/``, and *deliver* writes an import file into ``outbox/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from gateway.adapters.adapter import Adapter
from gateway.adapters.report import DocumentResult
from gateway.edxml import EdocPackage, Package
from gateway.errors import ConfigurationError
from gateway.transport.filedrop import FileDrop, ItemOutcome
from gateway.transport.soap import DeliveryResult, LegacySoapConnector


class LegacyConnector(Protocol):
    """What the exchange stages need from a legacy system."""

    def pending(self, limit: int | None = None) -> list[str]: ...
    def fetch(self, legacy_id: str) -> list[DocumentResult]: ...
    def acknowledge(self, legacy_id: str) -> DeliveryResult: ...
    def deliver(self, package: Package) -> DeliveryResult: ...
    def close(self) -> None: ...


class FileDropConnector:
    """A file-drop root (``inbox/ processing/ done/ failed/ outbox/``) behind the connector calls.

    ``pending`` claims what the inbox holds (an atomic rename into ``processing/``, so two workers
    never take the same file) and lists it together with what earlier runs claimed but did not
    finish; the legacy id of a file is its name.
    """

    def __init__(self, adapter: Adapter, root: Path):
        settings = adapter.manifest.transport.settings
        self.adapter = adapter
        self.drop = FileDrop(root, pattern=str(settings.get("pattern", "*.xml")))
        self.outgoing_name = str(settings.get("outgoing_name", "{document_id}.xml"))
        self.endpoint = f"file://{root.resolve()}"

    def _item(self, legacy_id: str) -> Path:
        if "/" in legacy_id or legacy_id in ("", ".", ".."):
            raise ConfigurationError(f"file drop: {legacy_id!r} is not a file name")
        return self.drop.processing / legacy_id

    def pending(self, limit: int | None = None) -> list[str]:
        self.drop.claim()
        names = sorted(p.name for p in self.drop.processing.iterdir() if not p.name.startswith("."))
        return names[:limit] if limit else names

    def fetch(self, legacy_id: str) -> list[DocumentResult]:
        item = self._item(legacy_id)
        results: list[DocumentResult] = []
        for path in self.drop.documents(item):
            results += self.adapter.translate_bytes(path.read_bytes(), source=str(path), base_dir=path.parent)
        return results

    def acknowledge(self, legacy_id: str) -> DeliveryResult:
        item = self._item(legacy_id)
        if not item.exists():
            return DeliveryResult(legacy_id, False, "no longer in processing/")
        done = self.drop.finish(item, ItemOutcome(True))
        return DeliveryResult(legacy_id, True, f"moved to {done.parent.name}/")

    def deliver(self, package: Package) -> DeliveryResult:
        out = self.adapter.to_legacy(package)
        doc_id = (package.header.document_id if isinstance(package, EdocPackage)
                  else f"{package.response_for.document_id}.{package.status_code.wire}")
        name = self.outgoing_name.format(document_id=doc_id).replace("/", "_")
        written = self.drop.write_outgoing(name, out.data, dict(out.files) or None)
        return DeliveryResult(doc_id, True, f"written to outbox/{written.name}")

    def close(self) -> None:
        """Nothing to close: files only."""


def open_connector(adapter: Adapter, endpoint: str, *, timeout: float | None = None) -> LegacyConnector:
    """The connector for ``adapter``'s transport: SOAP at an URL, or a file-drop root (path or file://)."""
    kind = adapter.manifest.transport.kind
    if kind == "soap":
        return LegacySoapConnector(adapter, endpoint, timeout=timeout)
    if kind == "filedrop":
        return FileDropConnector(adapter, Path(endpoint.removeprefix("file://")))
    raise ConfigurationError(f"adapter {adapter.code}: transport {kind!r} cannot be pulled by an exchange run")


__all__ = ["FileDropConnector", "LegacyConnector", "open_connector"]
