"""A payload store that measures attachments and keeps nothing: for judging a package, not storing it.

``validate`` and the hub's intake parse a package to decide whether it is acceptable; neither
needs the decoded attachments afterwards (the hub stores the package bytes themselves, once it
has accepted them). Streaming each attachment through SHA-256 into :class:`DigestOnlyStore`
keeps memory constant and, above all, writes nothing to disk for a package that is then refused
(a 10 MB zip bomb used to leave a 1 GB unreferenced blob behind, even after a 403).
"""

from __future__ import annotations

import hashlib
from typing import IO

from gateway.errors import GatewayError


class DigestPayload:
    """An attachment measured (size, SHA-256) whose bytes were not kept."""

    __slots__ = ("sha256", "size")

    def __init__(self, sha256: str, size: int):
        self.sha256 = sha256
        self.size = size

    def open(self) -> IO[bytes]:
        raise GatewayError("this attachment was only measured; its bytes were not kept")

    def __eq__(self, other: object) -> bool:
        other_sha = getattr(other, "sha256", None)
        return other_sha == self.sha256 if isinstance(other_sha, str) else NotImplemented

    def __hash__(self) -> int:
        return hash(self.sha256)


class DigestOnlyStore:
    """Satisfies :class:`gateway.edxml.parse.PayloadStore`; every payload is read to the end."""

    def put_stream(self, stream: IO[bytes]) -> DigestPayload:
        digest = hashlib.sha256()
        size = 0
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
        return DigestPayload(digest.hexdigest(), size)


__all__ = ["DigestOnlyStore", "DigestPayload"]
