"""Ledger side of request binding: the replay cache, per-system clocks and refusal counters.

* :func:`seen` / :func:`record` — the replay cache (``signed_requests``): state-changing signed
  requests by (system, HMAC). sendEdoc rows are written by the group commit in the same
  transaction as the submission (:mod:`gateway.ledger.intake`); updateStatus rows in the same
  transaction as the status change, so a recorded request is always one that took effect.
* :class:`Clocks` — per-system ``timestamp`` reading (``system_clocks``), cached a few seconds.
* :class:`RefusalCounter` — refused requests per system and reason, aggregated in memory and
  added to ``refusal_counts`` at most once a second and at every /metrics scrape, so a flood of
  bad requests costs no write per request and every worker's counts end up in one table.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.ledger.audit import utcnow
from gateway.ledger.models import RefusalCount, SignedRequest, SystemClock
from gateway.ledger.store import Ledger


def seen(session: Session, system_id: str, signature: str) -> SignedRequest | None:
    if not signature:
        return None
    return session.get(SignedRequest, (system_id, signature))


def record(session: Session, system_id: str, signature: str, operation: str, result: str | None = None) -> None:
    """Add one state-changing request to the cache (in the caller's transaction)."""
    if signature:
        session.add(
            SignedRequest(
                system_id=system_id, signature=signature, operation=operation, result=result, seen_at=utcnow()
            )
        )


def lookup(ledger: Ledger, system_id: str, signature: str) -> tuple[str, str | None] | None:
    """``(operation, result)`` of a cached signed request, or ``None`` (read-only)."""
    with ledger.reader() as s:
        row = seen(s, system_id, signature)
        return (row.operation, row.result) if row is not None else None


@dataclass(frozen=True, slots=True)
class Clock:
    """How to read one system's SDK timestamp; ``None`` fields fall back to the hub settings."""

    utc_offset_minutes: int | None = None
    max_age_seconds: int | None = None


class Clocks:
    def __init__(self, ledger: Ledger, ttl: float = 5.0):
        self.ledger = ledger
        self.ttl = ttl
        self._cache: dict[str, tuple[float, Clock]] = {}
        self._lock = threading.Lock()

    def get(self, system_id: str) -> Clock:
        with self._lock:
            hit = self._cache.get(system_id)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        with self.ledger.reader() as s:
            row = s.get(SystemClock, system_id)
            clock = Clock(row.utc_offset_minutes, row.max_age_seconds) if row is not None else Clock()
        with self._lock:
            self._cache[system_id] = (time.monotonic() + self.ttl, clock)
        return clock

    def cached(self, system_id: str) -> Clock | None:
        with self._lock:
            hit = self._cache.get(system_id)
        return hit[1] if hit and hit[0] > time.monotonic() else None

    def set(
        self, system_id: str, *, utc_offset_minutes: int | None, max_age_seconds: int | None, actor: str
    ) -> None:
        """Store a system's clock setting (audited); ``None`` resets a field to the hub default."""
        from gateway.ledger import audit

        with self.ledger.transaction() as s:
            row = s.get(SystemClock, system_id)
            if row is None:
                row = SystemClock(system_id=system_id, updated_at=utcnow())
                s.add(row)
            row.utc_offset_minutes = utc_offset_minutes
            row.max_age_seconds = max_age_seconds
            row.updated_at = utcnow()
            audit.record(
                s,
                "system.clock",
                actor=actor,
                system_id=system_id,
                utc_offset_minutes=utc_offset_minutes,
                max_age_seconds=max_age_seconds,
            )
        with self._lock:
            self._cache.pop(system_id, None)


class RefusalCounter:
    def __init__(self, ledger: Ledger, flush_every: float = 1.0):
        self.ledger = ledger
        self.flush_every = flush_every
        self._pending: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()

    def add(self, system_id: str, reason: str) -> bool:
        """Count one refusal; True when a flush is due (the caller runs :meth:`flush` off the loop)."""
        with self._lock:
            self._pending[(system_id[:64], reason[:48])] += 1
            return time.monotonic() - self._last_flush >= self.flush_every

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, Counter()
            self._last_flush = time.monotonic()
        if not pending:
            return
        try:
            with self.ledger.transaction() as s:
                for (system_id, reason), n in sorted(pending.items()):
                    row = s.execute(
                        select(RefusalCount)
                        .where(RefusalCount.system_id == system_id, RefusalCount.reason == reason)
                        .with_for_update()
                    ).scalar_one_or_none()
                    if row is None:
                        s.add(RefusalCount(system_id=system_id, reason=reason, count=n, last_at=utcnow()))
                    else:
                        row.count += n
                        row.last_at = utcnow()
        except Exception:
            with self._lock:  # keep the counts for the next flush
                self._pending.update(pending)
            raise

    def totals(self) -> list[tuple[str, str, int]]:
        """Every system's counts (flushed first, so this worker's latest refusals are included)."""
        self.flush()
        with self.ledger.reader() as s:
            rows = s.execute(
                select(RefusalCount.system_id, RefusalCount.reason, RefusalCount.count).order_by(
                    RefusalCount.system_id, RefusalCount.reason
                )
            ).all()
        return [(str(a), str(b), int(c)) for a, b, c in rows]


__all__ = ["Clock", "Clocks", "RefusalCounter", "lookup", "record", "seen"]
