"""Give memory that malloc keeps after a burst back to the operating system, every few seconds.

glibc's malloc keeps freed memory in its arenas (one per thread that allocated, up to 8 per core)
for reuse. A hub worker allocates request bodies and packages (tens of KB to MBs) from up to 40
request threads, so after a burst of concurrent requests the arenas hold the burst's peak, and the
worker's resident memory follows the highest concurrency it has ever seen rather than what it
uses: the session-5 soak measured the kept-free bytes (``lienthong_malloc_free_bytes``) rising
13 → 21 MB in one busy minute while the bytes in use stayed at 50 MB. ``malloc_trim(0)`` returns
the free pages of every arena (``madvise``), so memory levels off at what the current load uses.

One call costs well under a millisecond on a worker of this size; it runs in its own daemon
thread, off the event loop. Where the C library is not glibc the trimmer does nothing.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Callable

log = logging.getLogger("lienthong.memory")


def _malloc_trim() -> Callable[[], int] | None:
    try:
        function = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    function.restype = ctypes.c_int
    function.argtypes = [ctypes.c_size_t]
    return lambda: int(function(0))


M_ARENA_MAX = -8
"""``mallopt`` parameter number of glibc's arena cap (``malloc.h``)."""


def limit_arenas(count: int) -> bool:
    """Cap glibc's malloc arenas of this process at ``count`` (``mallopt(M_ARENA_MAX)``, the same as
    ``MALLOC_ARENA_MAX``); ``count`` 0 leaves glibc's default (8 per core). False where not glibc.

    A thread's first allocation gets an arena of its own while there are fewer than 8 per core, and
    memory freed in one arena is reused only by the threads that allocate from it: a worker's 40 request threads
    and 8 prepare threads spread a package's buffers over many arenas, each keeping its own free
    chunks. Call it before the process starts its threads (arenas already created stay).
    """
    if count <= 0:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.restype = ctypes.c_int
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_ARENA_MAX, count))


class MallocTrimmer:
    """Calls ``malloc_trim(0)`` every ``interval`` seconds until stopped (``malloc_trim_seconds``)."""

    def __init__(self, interval: float):
        self.interval = interval
        self.trims = 0
        self._trim = _malloc_trim()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def available(self) -> bool:
        return self._trim is not None

    def start(self) -> None:
        if self._trim is None or self.interval <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="lienthong-malloc-trim", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        assert self._trim is not None
        while not self._stop.wait(self.interval):
            self._trim()
            self.trims += 1
        log.debug("malloc trimmer stopped after %d trims", self.trims)


__all__ = ["MallocTrimmer", "limit_arenas"]
