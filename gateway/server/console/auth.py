"""Console sessions: operator-key login, signed session tokens, CSRF tokens, login throttling.

A session token is ``base64url(JSON).base64url(HMAC-SHA256)`` keyed with a per-hub secret kept in
``<data dir>/console.key`` (32 random bytes, created 0600 on first use, shared by every worker
process, never logged). The JSON holds the operator's name, a fingerprint of the key's digest,
the expiry and the session's CSRF token. Every request re-checks that the key behind the
fingerprint is still active, so revoking an operator key (``lienthong operators revoke``) ends
its console sessions within the key cache's few seconds, like the operator API.

CSRF: session-bound; every form carries the session's token in a hidden ``csrf`` field and a
POST without the exact token is refused with 403. The login form, before any session exists,
uses a double-submit token (a cookie and the same value in the form).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from gateway.config import HubSettings, hash_operator_key
from gateway.errors import ConfigurationError
from gateway.ledger.models import OperatorKey
from gateway.ledger.store import Ledger

SESSION_COOKIE = "lt_session"
LOGIN_CSRF_COOKIE = "lt_login_csrf"
LANG_COOKIE = "lt_lang"
KEY_FILE = "console.key"
_KEY_CACHE_SECONDS = 5.0


def load_or_create_secret(data_dir: Path) -> bytes:
    """The per-hub session secret; created atomically (O_EXCL) so concurrent workers agree on one."""
    path = data_dir / KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
            f.flush()
            os.fsync(f.fileno())
    for _ in range(50):  # another process may be between O_EXCL and its write
        raw = path.read_bytes()
        if len(raw) >= 32:
            return raw[:32]
        time.sleep(0.02)
    raise ConfigurationError(f"{path}: the console session key is shorter than 32 bytes; delete it to regenerate")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_fingerprint(digest: str) -> str:
    """What a session remembers of its key: not the key's digest itself, a digest of it."""
    return hashlib.sha256(("console-session\x1f" + digest).encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Session:
    operator: str  # audit actor name, "operator:<name>"
    fingerprint: str
    expires: int
    csrf: str


class SessionSigner:
    """Issues and checks session tokens (HMAC-SHA256 with the hub's console secret)."""

    def __init__(self, secret: bytes, *, lifetime_seconds: int):
        self._secret = secret
        self.lifetime = lifetime_seconds

    def issue(self, operator: str, fingerprint: str) -> tuple[str, Session]:
        session = Session(operator, fingerprint, int(time.time()) + self.lifetime, secrets.token_urlsafe(24))
        body = _b64(
            json.dumps(
                {"op": session.operator, "fp": session.fingerprint, "exp": session.expires, "csrf": session.csrf},
                separators=(",", ":"),
            ).encode()
        )
        return f"{body}.{self._mac(body)}", session

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._secret, body.encode("ascii"), hashlib.sha256).digest())

    def check(self, token: str | None) -> Session | None:
        """The session of a well-signed, unexpired token, else ``None`` (never raises)."""
        if not token or token.count(".") != 1 or len(token) > 2048:
            return None
        body, mac = token.split(".")
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            data = json.loads(_unb64(body))
            session = Session(str(data["op"]), str(data["fp"]), int(data["exp"]), str(data["csrf"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > time.time() else None


class OperatorDirectory:
    """Operator keys that may log in: the ledger's active keys plus configured digests (cached)."""

    def __init__(self, ledger: Ledger, settings: HubSettings):
        self.ledger = ledger
        self.configured = tuple(h.lower() for h in settings.operator_key_hashes)
        self._cache: tuple[float, dict[str, str]] | None = None
        self._lock = threading.Lock()

    def _active(self, *, fresh: bool = False) -> dict[str, str]:
        """fingerprint → audit name of every active key."""
        with self._lock:
            cached = self._cache
        if cached and cached[0] > time.monotonic() and not fresh:
            return cached[1]
        with self.ledger.reader() as s:
            rows = s.execute(
                select(OperatorKey.key_hash, OperatorKey.name).where(OperatorKey.revoked_at.is_(None))
            ).all()
        active = {key_fingerprint(d): "operator:" + d[:12] for d in self.configured}
        active.update({key_fingerprint(str(h)): "operator:" + str(n) for h, n in rows})
        with self._lock:
            self._cache = (time.monotonic() + _KEY_CACHE_SECONDS, active)
        return active

    def login(self, key: str) -> tuple[str, str] | None:
        """``(audit name, fingerprint)`` for a valid key, else ``None`` (keys compared as digests)."""
        fingerprint = key_fingerprint(hash_operator_key(key.strip()))
        for fresh in (False, True):  # a key added a moment ago works at once
            name = self._active(fresh=fresh).get(fingerprint)
            if name is not None:
                return name, fingerprint
        return None

    def still_active(self, session: Session) -> bool:
        return self._active().get(session.fingerprint) == session.operator


class LoginThrottle:
    """At most ``limit`` failed logins per client address per minute (guessing keys is pointless
    with 256-bit keys, but the log and the CPU deserve protection)."""

    def __init__(self, limit: int = 10, window: float = 60.0):
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            q = self._failures.get(client)
            while q and q[0] < now - self.window:
                q.popleft()
            return q is not None and len(q) >= self.limit

    def failed(self, client: str) -> None:
        with self._lock:
            if len(self._failures) > 10_000:
                self._failures.clear()
            self._failures.setdefault(client, deque()).append(time.monotonic())


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


__all__ = [
    "LANG_COOKIE",
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "LoginThrottle",
    "OperatorDirectory",
    "Session",
    "SessionSigner",
    "csrf_ok",
    "load_or_create_secret",
]
