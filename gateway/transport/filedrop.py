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
import stat
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


def _regular(path: Path) -> bool:
    """A regular file reached without following any symbolic link."""
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            return False
    except OSError:
        return False
    return not any(parent.is_symlink() for parent in path.parents)


class FileDrop:
    """One drop root with its five sub-folders (created on first use)."""

    def __init__(self, root: Path, *, pattern: str = "*.xml"):
        self.root = root
        self.pattern = pattern
        for name in SUBFOLDERS:
            (root / name).mkdir(parents=True, exist_ok=True)
        self.inbox, self.processing, self.done, self.failed, self.outbox = (root / n for n in SUBFOLDERS)

    def pending(self) -> list[Path]:
        """Items waiting in the inbox (oldest first): real folders and regular files only.

        Nothing is followed: a symbolic link (to ``/dev/zero``, to ``/etc``) or a FIFO, socket or
        device is never read; :meth:`refuse_special` moves it to failed/ with a report.
        """
        items: list[tuple[float, str, Path]] = []
        for p in self.inbox.iterdir():
            if _ignored(p.name):
                continue
            try:  # another worker may claim it between listing and stat
                info = p.lstat()
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(info.st_mode) or (stat.S_ISREG(info.st_mode) and p.match(self.pattern)):
                items.append((info.st_mtime, p.name, p))
        return [p for _, _, p in sorted(items)]

    def refuse_special(self) -> list[Path]:
        """Move every inbox entry that is not a regular file or a real folder (symlinks, FIFOs,
        devices, sockets) to failed/ unread, with a report saying why; return their new paths."""
        refused = []
        for p in self.inbox.iterdir():
            if _ignored(p.name):
                continue
            try:
                mode = p.lstat().st_mode
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
                continue
            kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
            log.warning("file drop refused %s: %s", p.name, kind)
            try:
                outcome = ItemOutcome(False, {"error": f"refused: {kind}, never followed or read"})
                refused.append(self.finish(p, outcome))
            except FileNotFoundError:
                continue
        return refused

    def claim(self) -> list[Path]:
        """Move every pending item to processing/; an item another worker took first is skipped."""
        claimed = []
        self.refuse_special()
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
        if stat.S_ISDIR(item.lstat().st_mode):
            return sorted(p for p in item.rglob(self.pattern) if _regular(p) and not _ignored(p.name))
        return [item] if _regular(item) else []

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
