"""Per-process memory gauges for ``/metrics``: where a worker's memory is, not only how much.

Each worker of a multi-process server answers a scrape for itself, so these gauges carry the
``pid`` label: a scraper (or ``bench/soak_hub.py``) that reaches every worker can tell which one
grows and whether the growth is Python objects, SQLite's own heap (page caches and statements,
bounded by ``sqlite_heap_limit_bytes``), memory malloc keeps after it was freed (fragmented
per-thread arenas) or neither (C extensions allocating elsewhere).
The ledger-wide figures of :mod:`gateway.server.health` are the same in every worker; these are not.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client.core import GaugeMetricFamily


def _sqlite_memory_used() -> Callable[[], int] | None:
    """SQLite's ``sqlite3_memory_used()`` from the library the ``sqlite3`` module is linked with.

    Best effort: a build that hides the symbol (a static SQLite without exported names) gives None
    and the gauge is left out rather than reported as 0.
    """
    try:
        import _sqlite3

        function = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    except (ImportError, OSError, AttributeError):
        return None
    function.restype = ctypes.c_int64
    function.argtypes = []
    return lambda: int(function())


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def _malloc_info() -> Callable[[], tuple[int, int]] | None:
    """glibc's ``mallinfo2()``: bytes in use and bytes free but kept by malloc (in all arenas).

    Memory that Python and the C libraries have freed but malloc keeps (fragmented arenas, one
    per thread) shows in the resident set without showing in any object count; this tells it apart.
    None where the C library is not glibc >= 2.33.
    """
    try:
        function = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return None
    function.restype = _MallInfo2
    function.argtypes = []

    def read() -> tuple[int, int]:
        info = function()
        return int(info.uordblks + info.hblkhd), int(info.fordblks)

    return read


def _resident_bytes() -> int | None:
    try:
        return int(Path("/proc/self/statm").read_text(encoding="ascii").split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux
        return None


class ProcessMemoryCollector:
    """Resident set, SQLite heap, malloc's in-use and kept-free bytes and Python's blocks of the answering process."""

    def __init__(self) -> None:
        self._sqlite = _sqlite_memory_used()
        self._malloc = _malloc_info()

    def collect(self) -> Iterator[Any]:
        pid = [str(os.getpid())]

        def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
            g = GaugeMetricFamily(name, documentation, labels=["pid"])
            g.add_metric(pid, value)
            return g

        resident = _resident_bytes()
        if resident is not None:
            yield gauge("lienthong_process_resident_bytes", "Resident memory of the answering worker process", resident)
        if self._sqlite is not None:
            yield gauge("lienthong_sqlite_heap_bytes",
                        "Memory held by the SQLite library in the answering worker (page caches, statements)",
                        self._sqlite())
        if self._malloc is not None:
            in_use, kept_free = self._malloc()
            yield gauge("lienthong_malloc_in_use_bytes", "Bytes allocated through malloc in the answering worker",
                        in_use)
            yield gauge("lienthong_malloc_free_bytes",
                        "Bytes freed but kept by malloc in the answering worker (fragmentation, per-thread arenas)",
                        kept_free)
        yield gauge("lienthong_python_allocated_blocks",
                    "Python objects' memory blocks allocated in the answering worker (sys.getallocatedblocks)",
                    sys.getallocatedblocks())


__all__ = ["ProcessMemoryCollector"]
