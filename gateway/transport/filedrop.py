"""File drop: legacy systems that exchange files in folders (nightly exports, import folders).

Layout under one root::

    inbox/       the legacy system drops files or bundle folders here
    processing/  claimed items (moved atomically, so two workers never take the same item)
    done/        translated and accepted
    failed/      refused, with NAME.report.json saying why (per document)
    outbox/      files the gateway writes for the legacy system to import

A drop item is a file (``export.xml``) or a folder (``export-2024-05-06/`` holding the XML and
the files it references).  Writers must make items appear atomically: the watcher ignores names
starting with ``.`` or ending in ``.tmp``/``.part``, and :meth:`FileDrop.write_outgoing` itself
writes to a hidden temporary name, fsyncs, then renames.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.errors import ConfigurationError, GatewayError, TransportError
from gateway.files import fsync_dir, write_atomic

log = logging.getLogger(__name__)

SUBFOLDERS = ("inbox", "processing", "done", "failed", "outbox")


@dataclass(frozen=True)
class ItemOutcome:
    """What a handler decided for one drop item."""

    ok: bool
    report: Mapping[str, Any] = field(default_factory=dict)


Handler = Callable[[Path], ItemOutcome]


def _ignored(name: str) -> bool:
    return name.startswith(".") or name.endswith((".tmp", ".part"))


class FileDrop:
    """One drop root with its five sub-folders (created on first use)."""

    def __init__(self, root: Path, *, pattern: str = "*.xml"):
        self.root = root
        self.pattern = pattern
        for name in SUBFOLDERS:
            (root / name).mkdir(parents=True, exist_ok=True)
        self.inbox, self.processing, self.done, self.failed, self.outbox = (root / n for n in SUBFOLDERS)

    def pending(self) -> list[Path]:
        """Items waiting in the inbox (oldest first)."""
        items: list[tuple[float, str, Path]] = []
        for p in self.inbox.iterdir():
            if _ignored(p.name):
                continue
            try:  # another worker may claim it between listing and stat
                if p.is_dir() or p.match(self.pattern):
                    items.append((p.stat().st_mtime, p.name, p))
            except FileNotFoundError:
                continue
        return [p for _, _, p in sorted(items)]

    def claim(self) -> list[Path]:
        """Move every pending item to processing/; an item another worker took first is skipped."""
        claimed = []
        for item in self.pending():
            target = self.processing / item.name
            try:
                item.rename(target)  # atomic on one file system
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise TransportError(f"cannot claim {item}: {exc.strerror}") from exc
            claimed.append(target)
        return claimed

    def documents(self, item: Path) -> list[Path]:
        """The XML files of an item (the item itself, or the matching files inside a bundle folder)."""
        if item.is_dir():
            return sorted(p for p in item.rglob(self.pattern) if p.is_file() and not _ignored(p.name))
        return [item]

    def finish(self, item: Path, outcome: ItemOutcome) -> Path:
        """Move a processed item to done/ or failed/ (never overwriting), with its report."""
        dest_dir = self.done if outcome.ok else self.failed
        dest = dest_dir / item.name
        if dest.exists():
            stamp = datetime.now().strftime("%Y%m%dT%H%M%S%f")
            dest = dest_dir / f"{item.stem}.{stamp}{item.suffix}"
        item.rename(dest)
        if outcome.report:
            report = dest.with_name(dest.name + ".report.json")
            write_atomic(report, json.dumps(outcome.report, ensure_ascii=False, indent=2, default=str).encode())
        return dest

    def process(self, handler: Handler) -> list[tuple[Path, ItemOutcome]]:
        """Claim and handle every pending item; one failing item never stops the others."""
        results = []
        for item in self.claim():
            try:
                outcome = handler(item)
            except GatewayError as exc:
                outcome = ItemOutcome(False, {"error": str(exc), "retryable": exc.retryable})
            except Exception as exc:
                log.exception("file drop handler failed on %s", item.name)
                outcome = ItemOutcome(False, {"error": f"internal error: {type(exc).__name__}"})
            results.append((self.finish(item, outcome), outcome))
        return results

    def watch(self, handler: Handler, *, interval: float = 2.0, stop: threading.Event) -> None:
        """Poll the inbox until ``stop`` is set (a plain loop: no extra dependency, works on NFS)."""
        while not stop.is_set():
            self.process(handler)
            stop.wait(interval)

    # -- outgoing -------------------------------------------------------------------------------

    def write_outgoing(self, name: str, data: bytes, files: Mapping[str, bytes] | None = None) -> Path:
        """Write an import file for the legacy system, atomically.

        Without ``files`` the result is ``outbox/NAME``.  With side files (paths relative to the
        XML, as the legacy format references them) the result is a bundle folder
        ``outbox/STEM/`` holding ``NAME`` and the files, renamed into place in one step.
        """
        if "/" in name or "\\" in name or _ignored(name) or not name:
            raise ConfigurationError(f"outgoing file name {name!r} must be a plain, visible file name")
        if not files:
            target = self.outbox / name
            if target.exists():
                raise TransportError(f"{target} already exists; refusing to overwrite an unread import file")
            write_atomic(target, data)
            return target
        bundle = self.outbox / Path(name).stem
        if bundle.exists():
            raise TransportError(f"{bundle} already exists; refusing to overwrite an unread import bundle")
        tmp = self.outbox / f".{bundle.name}.{os.getpid()}.{time.monotonic_ns()}.tmp"
        tmp.mkdir()
        try:
            for rel, content in {name: data, **files}.items():
                dest = (tmp / rel).resolve()
                if not dest.is_relative_to(tmp.resolve()):
                    raise ConfigurationError(f"side file {rel!r} would leave the bundle folder")
                dest.parent.mkdir(parents=True, exist_ok=True)
                with dest.open("wb") as fh:
                    fh.write(content)
                    fh.flush()
                    os.fsync(fh.fileno())
            tmp.rename(bundle)
            fsync_dir(self.outbox)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return bundle


__all__ = ["FileDrop", "Handler", "ItemOutcome"]
