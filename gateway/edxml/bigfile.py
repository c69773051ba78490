"""Helpers to make and measure very large packages without holding them in memory.

Used by the streaming tests and the benchmark: a pseudo-random attachment of N bytes is written
straight into the blob store, and the package around it is streamed to a file.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path

from gateway.blobstore import BlobRef, BlobStore
from gateway.edxml.build import write_package
from gateway.edxml.model import Attachment
from gateway.edxml.samples import sample_edoc


def write_blob_of_size(store: BlobStore, size: int, *, seed: bytes = b"lienthong") -> BlobRef:
    """A deterministic incompressible blob of ``size`` bytes, generated in 1 MiB chunks."""
    block = hashlib.shake_256(seed).digest(1 << 20)
    with store.writer() as w:
        left = size
        while left > 0:
            n = min(left, len(block))
            w.write(block[:n])
            left -= n
        return w.commit()


def write_big_package(path: Path, store: BlobStore, attachment_size: int) -> str:
    """Write a package whose single PDF attachment has ``attachment_size`` bytes; return its sha256."""
    blob = write_blob_of_size(store, attachment_size)
    base = sample_edoc(attachments=1)
    att = replace(base.attachments[0], payload=blob)
    pkg = replace(base, attachments=(Attachment(att.content_id, att.name, att.content_type, blob, att.description),))
    with path.open("wb") as out:
        write_package(pkg, out)
        out.flush()
        os.fsync(out.fileno())
    return blob.sha256
