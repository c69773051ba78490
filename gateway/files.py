"""File helpers shared across the gateway: durable writes, and reading TOML configuration.

A reader (a legacy system polling a folder, an operator, the next pipeline stage, a crash
recovery) must see either nothing or the whole file: write a temporary file in the same folder,
fsync it, rename it into place, then fsync the folder so the rename itself survives a power cut.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gateway.errors import ConfigurationError


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable (no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory file descriptors
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_DEFERRED: contextvars.ContextVar[set[Path] | None] = contextvars.ContextVar("lienthong_deferred_dirs",
                                                                             default=None)


@contextlib.contextmanager
def batched_dir_sync() -> Iterator[None]:
    """Inside: :func:`write_atomic` fsyncs each file but each folder only once, on the way out.

    A batch stage writes one or two files per document into the same few folders; fsyncing the
    folder after every rename cost one extra fsync per file (about half of a stage's fsyncs).
    The files themselves are still fsynced before their rename, and every folder written is
    fsynced before the block is left (also when it raises), so what a stage wrote is durable
    before the next stage, or anybody told about it, can rely on it. Nested blocks join the
    outermost one.
    """
    if _DEFERRED.get() is not None:
        yield
        return
    folders: set[Path] = set()
    token = _DEFERRED.set(folders)
    try:
        yield
    finally:
        _DEFERRED.reset(token)
        for folder in sorted(folders):
            fsync_dir(folder)


def write_atomic(path: Path, data: bytes, *, publish_now: bool = False) -> None:
    """Write ``data`` to ``path`` so readers see nothing or all of it, durably.

    Inside :func:`batched_dir_sync` the folder's fsync waits for the end of the block, unless
    ``publish_now``: the caller is about to tell somebody the file is stored (acknowledge a
    received package, send the bytes it must resend identically), so it must survive now.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    deferred = _DEFERRED.get()
    if deferred is not None and not publish_now:
        deferred.add(path.parent)
    else:
        fsync_dir(path.parent)


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """Load a TOML file (hub settings, signing profiles, adapter manifest or mapping).

    Every failure is a :class:`ConfigurationError` naming ``what`` and the file.
    """
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read {what} {path}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: {what} is not valid TOML: {exc}") from exc


__all__ = ["batched_dir_sync", "fsync_dir", "read_toml", "write_atomic"]
