"""Operator API keys kept in the ledger (``lienthong operators add|list|revoke``), stored only as SHA-256.

A key is generated here, shown once, and never stored in clear: the ledger keeps its SHA-256 (the
same digest as ``operator_key_hashes`` in the hub configuration, which stays supported for
keys managed outside the ledger). A new key works at once; revoking sets ``revoked_at`` and a
running hub refuses the key within :data:`CACHE_SECONDS`. Adding and revoking are audited (by key name, never the key).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from gateway.config import hash_operator_key
from gateway.errors import ConflictError, LedgerError, NotFoundError
from gateway.ledger import audit
from gateway.ledger.audit import utcnow
from gateway.ledger.models import OperatorKey
from gateway.ledger.store import Ledger

CACHE_SECONDS = 5.0
KEY_PREFIX = "lto_"


@dataclass(frozen=True, slots=True)
class OperatorKeyInfo:
    """A key's public facts: its name, a short digest prefix to tell keys apart, and its dates."""

    name: str
    hash_prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def add_key(ledger: Ledger, name: str, key: str | None = None) -> str:
    """Store a new key under ``name`` and return it (the only time it is seen in clear)."""
    name = name.strip()
    if not name or len(name) > 64:
        raise LedgerError("an operator key needs a name of 1 to 64 characters")
    key = key or generate_key()
    if len(key) < 16:
        raise LedgerError("an operator key must be at least 16 characters long")
    with ledger.transaction() as s:
        if s.get(OperatorKey, name) is not None:
            raise ConflictError(f"an operator key named {name!r} already exists (revoke it or pick another name)")
        s.add(OperatorKey(name=name, key_hash=hash_operator_key(key), created_at=utcnow(), revoked_at=None))
        audit.record(s, "operator_key.added", actor="operator", name=name)
    return key


def list_keys(ledger: Ledger) -> list[OperatorKeyInfo]:
    with ledger.reader() as s:
        rows = s.execute(select(OperatorKey).order_by(OperatorKey.created_at)).scalars().all()
        return [OperatorKeyInfo(r.name, r.key_hash[:12], r.created_at, r.revoked_at) for r in rows]


def revoke_key(ledger: Ledger, name: str) -> None:
    with ledger.transaction() as s:
        row = s.get(OperatorKey, name)
        if row is None:
            raise NotFoundError(f"no operator key named {name!r}")
        if row.revoked_at is not None:
            return
        row.revoked_at = utcnow()
        audit.record(s, "operator_key.revoked", actor="operator", name=name)


class OperatorKeyChecker:
    """Checks ``X-API-Key`` values against configured digests and the ledger's active keys (cached)."""

    def __init__(self, ledger: Ledger, configured: Iterable[str] = ()):
        self.ledger = ledger
        self.configured = tuple(h.lower() for h in configured)
        self._cache: tuple[float, dict[str, str]] | None = None
        self._lock = threading.Lock()

    def _active(self) -> dict[str, str]:
        with self._lock:
            cached = self._cache
        if cached and cached[0] > time.monotonic():
            return cached[1]
        with self.ledger.reader() as s:
            rows = s.execute(
                select(OperatorKey.key_hash, OperatorKey.name).where(OperatorKey.revoked_at.is_(None))
            ).all()
        active = {str(h): str(n) for h, n in rows}
        with self._lock:
            self._cache = (time.monotonic() + CACHE_SECONDS, active)
        return active

    def identify(self, key: str) -> str | None:
        """The operator's audit name for a valid key (``operator:<name>``), else ``None``."""
        digest = hash_operator_key(key)
        for configured in self.configured:
            if hmac.compare_digest(digest, configured):
                return "operator:" + digest[:12]
        for stored, name in self._active().items():
            if hmac.compare_digest(digest, stored):
                return "operator:" + name
        with self.ledger.reader() as s:  # a key added since the cache was filled works at once
            found = s.execute(
                select(OperatorKey.name).where(OperatorKey.key_hash == digest, OperatorKey.revoked_at.is_(None))
            ).scalar_one_or_none()
        if found is None:
            return None
        with self._lock:
            self._cache = None
        return "operator:" + str(found)


__all__ = ["OperatorKeyChecker", "OperatorKeyInfo", "add_key", "generate_key", "list_keys", "revoke_key"]
