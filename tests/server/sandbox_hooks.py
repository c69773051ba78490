"""Stand-ins for the legacy translation, importable by the hub's sandbox worker processes."""

from __future__ import annotations

from typing import Any


def burn_forever(adapter: str, body: bytes, soap_action: str | None, limits: Any = None) -> object:
    """A runaway document: pure CPU, never returns (the sandbox must kill it at its budget)."""
    n = 0
    while True:
        n += 1
