"""Blobs no ledger row points at: found, reported, and (after a grace period) removed with an audit entry.

The hub writes a package's blob just before the ledger commit that references it, so a crash in
between (or a database refusal of the commit) leaves a blob nothing refers to. Such orphans are
harmless but take disk; :func:`find_orphans` lists them and :func:`prune_orphans` removes those
older than a grace period — long enough that a blob whose commit is still in flight is never
touched — re-checking each reference inside the same transaction that records the removal in the
audit chain (``blobs.prune``: digests and sizes).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select

from gateway.blobstore import BlobStore
from gateway.ledger import audit
from gateway.ledger.models import Message, Submission
from gateway.ledger.store import Ledger

DEFAULT_GRACE_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class Orphan:
    """A blob in the store that no submission or message references."""

    sha256: str
    size: int
    age_seconds: float


def referenced(ledger: Ledger) -> set[str]:
    """Every blob digest the ledger points at (submissions, messages and their trace sources)."""
    with ledger.reader() as s:
        found = set(s.execute(select(Submission.payload_sha256).distinct()).scalars())
        found |= set(s.execute(select(Message.payload_sha256).distinct()).scalars())
        found |= {d for d in s.execute(select(Message.source_sha256).distinct()).scalars() if d}
    return found


def find_orphans(ledger: Ledger, store: BlobStore) -> list[Orphan]:
    """The blobs of ``store`` that the ledger does not reference, oldest first."""
    keep = referenced(ledger)
    now = time.time()
    out = []
    for digest in store:
        if digest in keep:
            continue
        try:
            info = store.path(digest).stat()
        except FileNotFoundError:
            continue
        out.append(Orphan(digest, info.st_size, now - info.st_mtime))
    return sorted(out, key=lambda o: -o.age_seconds)


def prune_orphans(
    ledger: Ledger, store: BlobStore, *, grace_seconds: float = DEFAULT_GRACE_SECONDS, actor: str = "operator"
) -> list[Orphan]:
    """Remove orphans older than ``grace_seconds``; return what was removed (audited as one entry)."""
    candidates = [o for o in find_orphans(ledger, store) if o.age_seconds >= grace_seconds]
    if not candidates:
        return []
    removable = BlobStore(store.root, allow_delete=True)
    removed: list[Orphan] = []
    with ledger.transaction() as s:
        for orphan in candidates:
            still = s.execute(select(Submission.id).where(Submission.payload_sha256 == orphan.sha256).limit(1)).first()
            still = still or s.execute(
                select(Message.id)
                .where((Message.payload_sha256 == orphan.sha256) | (Message.source_sha256 == orphan.sha256))
                .limit(1)
            ).first()
            if still:
                continue
            removable.delete(orphan.sha256)
            removed.append(orphan)
        if removed:
            audit.record(
                s,
                "blobs.prune",
                actor=actor,
                grace_seconds=grace_seconds,
                removed=[{"sha256": o.sha256, "size": o.size} for o in removed],
                bytes=sum(o.size for o in removed),
            )
    return removed


__all__ = ["DEFAULT_GRACE_SECONDS", "Orphan", "find_orphans", "prune_orphans", "referenced"]
