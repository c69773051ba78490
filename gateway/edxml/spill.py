"""Inflated attachments kept in memory only up to a ceiling, then spilled to a temporary file.

A package parsed without a payload store (``parse_package(..., store=None)``: relays, the console,
``package`` commands, adapters) used to read every inflated ZIP attachment into memory whole. The
inflation budget allows an entry up to ``max_inflated_bytes`` (2 GiB) once its ratio is under
``max_inflation_ratio``, so an 8 MB body could cost ~800 MB of memory. :func:`read_capped` keeps
at most ``max_inflated_in_memory_bytes`` in memory; a larger attachment is streamed into a private
temporary file (in ``TMPDIR``), digested on the way, and served from there by
:class:`SpilledPayload`. The file is removed when the payload is garbage-collected (or at exit).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import weakref
from pathlib import Path
from typing import IO

from gateway.edxml.model import BytesPayload, Payload

CHUNK = 1 << 20


class SpilledPayload:
    """An attachment whose bytes live in a temporary file owned by this object."""

    __slots__ = ("__weakref__", "_finalizer", "_path", "sha256", "size")

    def __init__(self, path: str, sha256: str, size: int):
        self._path = path
        self.sha256 = sha256
        self.size = size
        self._finalizer = weakref.finalize(self, _remove, path)

    def open(self) -> IO[bytes]:
        return open(self._path, "rb")  # noqa: PTH123 - the caller owns the stream

    @property
    def data(self) -> bytes:
        """The whole attachment (for callers that insist; this is what spilling avoided)."""
        with self.open() as fh:
            return fh.read()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Payload) and other.sha256 == self.sha256

    def __hash__(self) -> int:
        return hash(self.sha256)

    def __repr__(self) -> str:
        return f"SpilledPayload(<{self.size} bytes in a temporary file>)"


def _remove(path: str) -> None:
    Path(path).unlink(missing_ok=True)


def read_capped(stream: IO[bytes], ceiling: int) -> BytesPayload | SpilledPayload:
    """Read ``stream`` to its end: in memory when it holds at most ``ceiling`` bytes, else spilled."""
    buf = bytearray()
    while len(buf) <= ceiling:
        chunk = stream.read(CHUNK)
        if not chunk:
            return BytesPayload(bytes(buf))
        buf += chunk
    digest = hashlib.sha256(buf)
    size = len(buf)
    fd, path = tempfile.mkstemp(prefix="lienthong-attachment-", suffix=".bin")
    payload: SpilledPayload | None = None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(buf)
            del buf
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        payload = SpilledPayload(path, digest.hexdigest(), size)
        return payload
    finally:
        if payload is None:
            _remove(path)


__all__ = ["SpilledPayload", "read_capped"]
