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
