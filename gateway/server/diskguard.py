"""Free-space reserve: refuse new work *before* the disk is full, and say so in /healthz and /metrics.

When the data directory's filesystem fills up, every sendEdoc fails in the blob store or the
database; the client should get a retryable answer (503, "retry later"), never a 500 with the
server's paths, and the operator should see it on /healthz. :class:`DiskGuard` keeps a reserve
(``min_free_bytes``, default 256 MiB): a package is refused with
:class:`~gateway.errors.DiskFullError` when storing it would leave less than the reserve free.
``statvfs`` is cheap but not free, so its answer is cached for ``disk_check_interval_seconds``
(one call per interval per process, not per request). An ``ENOSPC``/``EDQUOT`` met while
writing marks the disk full at once, until a fresh ``statvfs`` shows the reserve is back.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from gateway.config import HubSettings
from gateway.errors import BlobStoreError, DiskFullError

T = TypeVar("T")
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


@dataclass(frozen=True, slots=True)
class DiskState:
    """One measurement: the least free space over the watched folders, and whether it is enough."""

    free_bytes: int
    reserve_bytes: int
    full: bool


def is_disk_full(exc: BaseException) -> bool:
    """``exc`` or one of its causes is an ``ENOSPC``/``EDQUOT`` OSError (or SQLite's "disk is full")."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in FULL_ERRNOS:
            return True
        if "database or disk is full" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class DiskGuard:
    """Cached free-space check of the folders the hub writes to (blob store, SQLite database)."""

    def __init__(
        self,
        folders: Sequence[Path],
        reserve_bytes: int,
        *,
        interval: float = 2.0,
        statvfs: Callable[[str], Any] = os.statvfs,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.folders = tuple(folders)
        self.reserve_bytes = reserve_bytes
        self.interval = interval
        self._statvfs = statvfs
        self._clock = clock
        self._lock = threading.Lock()
        self._state: DiskState | None = None
        self._measured_at = float("-inf")
        self._hit_full = False

    def _measure(self) -> DiskState:
        free = None
        for folder in self.folders:
            probe = folder
            while not probe.exists() and probe != probe.parent:
                probe = probe.parent
            try:
                st = self._statvfs(str(probe))
            except OSError:
                continue
            avail = int(st.f_bavail) * int(st.f_frsize)
            free = avail if free is None else min(free, avail)
        free = free if free is not None else 0
        return DiskState(free, self.reserve_bytes, free < self.reserve_bytes)

    def state(self) -> DiskState:
        """The last measurement, refreshed when older than ``interval``."""
        now = self._clock()
        with self._lock:
            if self._state is None or now - self._measured_at >= self.interval:
                measured = self._measure()
                self._hit_full = self._hit_full and measured.full  # space came back: forget ENOSPC
                self._state, self._measured_at = measured, now
            state = self._state
            if self._hit_full and not state.full:
                state = DiskState(state.free_bytes, state.reserve_bytes, True)
            return state

    def check(self, need_bytes: int = 0) -> None:
        """Raise :class:`DiskFullError` if writing ``need_bytes`` more would eat into the reserve."""
        if self.reserve_bytes <= 0 and not self._hit_full:
            return
        state = self.state()
        if state.full or state.free_bytes - need_bytes < self.reserve_bytes:
            raise DiskFullError(
                "the hub's storage is full (below its free-space reserve); retry later"
            )

    def note_full(self) -> None:
        """A write just failed with ENOSPC: report full until a fresh measurement shows space."""
        with self._lock:
            self._hit_full = True
            free = self._state.free_bytes if self._state is not None else 0
            self._state = DiskState(free, self.reserve_bytes, True)
            self._measured_at = self._clock()  # keep it for one interval even if statvfs disagrees

    def guarded(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a write; an out-of-space failure becomes :class:`DiskFullError` (no paths in it)."""
        try:
            return fn(*args, **kwargs)
        except (BlobStoreError, OSError) as exc:
            if not is_disk_full(exc):
                raise
            self.note_full()
            raise DiskFullError("the hub's storage is full; retry later") from exc


def disk_guard_for(settings: HubSettings) -> DiskGuard:
    """The guard of a hub: its blob store and, on SQLite, the database's folder."""
    folders = [settings.blob_dir]
    if settings.database_url.startswith("sqlite:///"):
        folders.append(Path(settings.database_url.removeprefix("sqlite:///")).parent)
    return DiskGuard(folders, settings.min_free_bytes, interval=settings.disk_check_interval_seconds)


__all__ = ["DiskGuard", "DiskState", "disk_guard_for", "is_disk_full"]
