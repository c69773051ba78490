"""The hub's malloc trimmer hands kept-free memory back on its interval and stops when told."""

from __future__ import annotations

import threading
import time

import pytest

from gateway.config import HubSettings
from gateway.errors import ConfigurationError
from gateway.server.malloc_trim import MallocTrimmer


def test_the_trimmer_trims_on_its_interval_and_stops() -> None:
    trimmer = MallocTrimmer(0.02)
    assert trimmer.available  # glibc on this machine kind
    trimmer.start()
    deadline = time.monotonic() + 10
    while trimmer.trims < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert trimmer.trims >= 3
    trimmer.stop()
    after = trimmer.trims
    time.sleep(0.1)
    assert trimmer.trims == after
    assert not any(t.name == "lienthong-malloc-trim" for t in threading.enumerate())


def test_interval_zero_never_starts_a_thread() -> None:
    trimmer = MallocTrimmer(0)
    trimmer.start()
    assert not any(t.name == "lienthong-malloc-trim" for t in threading.enumerate())
    trimmer.stop()


def test_a_negative_interval_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="malloc_trim_seconds must be >= 0"):
        HubSettings(malloc_trim_seconds=-1)


_ARENAS = r"""
import ctypes, sys, threading
from gateway.server.malloc_trim import limit_arenas
cap = int(sys.argv[1])
assert limit_arenas(cap) == (cap > 0)
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
start, hold = threading.Barrier(8), threading.Barrier(8)

def work():
    start.wait()  # all alive at once: each thread's first malloc gets its own arena while under the cap
    kept = [libc.malloc(4096) for _ in range(2000)]
    hold.wait()
    assert all(kept)

threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
libc.malloc_stats()  # one "Arena N:" block per arena, on stderr
"""


def _arenas(cap: int) -> int:
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", _ARENAS, str(cap)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return sum(1 for line in run.stderr.splitlines() if line.startswith("Arena "))


def test_the_arena_cap_bounds_how_many_arenas_threads_spread_memory_over() -> None:
    assert _arenas(1) == 1
    assert _arenas(2) <= 2
    assert _arenas(0) > 2  # glibc's default (8 per core): one per thread here


def test_a_negative_arena_cap_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="malloc_arena_max must be >= 0"):
        HubSettings(malloc_arena_max=-1)
