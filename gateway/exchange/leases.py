"""Leases on the documents an exchange run takes: one run per document at a time, across hosts.

Two runs of one DAG, two work folders pointed at the same legacy queue, or a DAG run and a
``lienthong exchange`` call must never fetch, sign and send the same document at once (each would
record the other's delivery as a failure). A run therefore *leases* what it listed: one row per
(source, item) in the ledger table ``exchange_leases`` (migration 0004), taken in one transaction
— an insert, or an update of a row whose lease has expired or that the same holder already has.
The primary key makes the database decide between two runs, so the lock holds across processes
and hosts (PostgreSQL) or processes on one host (SQLite). A run that dies keeps its leases only
until ``expires_at``; the next run then takes them over (a lost lease is recovered).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from gateway.errors import LedgerError
from gateway.ledger.db import make_engine, upgrade
from gateway.ledger.models import ExchangeLease

log = logging.getLogger("lienthong.exchange")

DEFAULT_TTL = timedelta(hours=1)


def default_lease_url() -> str:
    """``$LIENTHONG_LEASE_DATABASE_URL``, else ``$LIENTHONG_DATABASE_URL``, else SQLite beside the data dir.

    The default is shared by every work folder under one data dir on purpose: leases only help
    when all the runs that drain one queue look at the same table.
    """
    env = os.environ
    url = env.get("LIENTHONG_LEASE_DATABASE_URL") or env.get("LIENTHONG_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{Path(env.get('LIENTHONG_DATA_DIR', 'var')).resolve() / 'exchange-leases.db'}"


def new_holder(prefix: str = "cli") -> str:
    """A holder name for a direct run: who (host, pid) plus a random part (two calls never share it)."""
    return f"{prefix}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class LeaseStore:
    """Take, renew and release leases in ``exchange_leases`` of the database at ``url``."""

    def __init__(self, url: str, *, ttl: timedelta = DEFAULT_TTL, migrate: bool = True):
        self.url = url
        self.ttl = ttl
        self.engine = make_engine(url, synchronous="NORMAL", pool_size=2)
        if migrate:
            upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> LeaseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def acquire(self, source: str, items: Sequence[str], holder: str) -> list[str]:
        """The ``items`` (in order) now leased to ``holder``; those another holder has are left out."""
        if not items:
            return []
        now = _now()
        expires = now + self.ttl
        wanted = list(dict.fromkeys(items))
        try:
            with self.engine.begin() as conn:
                rows = {r.item: r for r in conn.execute(
                    select(ExchangeLease.item, ExchangeLease.holder, ExchangeLease.expires_at)
                    .where(ExchangeLease.source == source, ExchangeLease.item.in_(wanted)))}
                free = [i for i in wanted if i not in rows]
                if free:
                    conn.execute(insert(ExchangeLease), [
                        {"source": source, "item": i, "holder": holder, "acquired_at": now, "expires_at": expires}
                        for i in free])
                taken = set(free)
                ours_or_expired = []
                for item, row in rows.items():
                    if row.holder != holder and row.expires_at > now:
                        log.info("lease: %s is held by %s until %s; skipped", item, row.holder, row.expires_at)
                    else:
                        ours_or_expired.append(item)
                # one UPDATE per 500 items, not one per item: RETURNING says which rows it took
                # (a row another run renewed meanwhile no longer matches the condition)
                for i in range(0, len(ours_or_expired), 500):
                    done = conn.execute(
                        update(ExchangeLease)
                        .where(ExchangeLease.source == source, ExchangeLease.item.in_(ours_or_expired[i : i + 500]),
                               or_(ExchangeLease.holder == holder, ExchangeLease.expires_at <= now))
                        .values(holder=holder, acquired_at=now, expires_at=expires)
                        .returning(ExchangeLease.item))
                    for (item,) in done:
                        row = rows[item]
                        if row.holder != holder:
                            log.warning("lease: %s taken over from %s (expired %s)", item, row.holder, row.expires_at)
                        taken.add(item)
        except IntegrityError:
            # another run inserted one of the free items between our select and insert: ask again
            return self.acquire(source, items, holder)
        except SQLAlchemyError as exc:
            raise LedgerError(f"exchange leases: {type(exc).__name__}: {exc}") from exc
        return [i for i in wanted if i in taken]

    def renew(self, source: str, items: Sequence[str], holder: str) -> list[str]:
        """Extend ``holder``'s leases on ``items``; returns those it still holds (or took back once expired)."""
        return self.acquire(source, items, holder)

    def release(self, source: str, holder: str, items: Iterable[str] | None = None) -> int:
        """Drop ``holder``'s leases (all of them on ``source``, or only ``items``); returns how many."""
        cond = and_(ExchangeLease.source == source, ExchangeLease.holder == holder)
        if items is not None:
            cond = and_(cond, ExchangeLease.item.in_(list(items)))
        try:
            with self.engine.begin() as conn:
                return int(conn.execute(delete(ExchangeLease).where(cond)).rowcount or 0)
        except SQLAlchemyError as exc:
            raise LedgerError(f"exchange leases: {type(exc).__name__}: {exc}") from exc

    def holders(self, source: str) -> dict[str, str]:
        """item → holder of the unexpired leases on ``source`` (for operators and tests)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(ExchangeLease.item, ExchangeLease.holder)
                                .where(ExchangeLease.source == source, ExchangeLease.expires_at > _now()))
            return {r.item: r.holder for r in rows}


__all__ = ["DEFAULT_TTL", "LeaseStore", "default_lease_url", "new_holder"]
