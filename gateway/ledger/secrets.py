"""Encryption of connected systems' secrets at rest (Fernet, key file in the data directory).

HMAC verification needs the secret itself, so a one-way hash is not an option: secrets are stored
encrypted with a key that never enters the database. The key file is created on first use with
mode 0600 (``<data dir>/secret.key``); losing it means every system must get a new secret
(``lienthong systems rotate-secret``). Plain secrets are never logged or put in error messages.
"""

from __future__ import annotations

import os
import secrets as _secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from gateway.errors import ConfigurationError, LedgerError


class SecretBox:
    """Encrypts and decrypts system secrets with one Fernet key."""

    def __init__(self, key: bytes):
        try:
            self._fernet = Fernet(key)
        except ValueError as exc:
            raise ConfigurationError("the secret key is not a valid Fernet key") from exc

    @classmethod
    def from_key_file(cls, path: Path, *, create: bool = True) -> SecretBox:
        """Load the key, creating it (0600, atomically) if it does not exist yet and ``create``."""
        if not path.exists():
            if not create:
                raise ConfigurationError(f"secret key file {path} does not exist")
            path.parent.mkdir(parents=True, exist_ok=True)
            key = Fernet.generate_key()
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process created it first; read theirs
            else:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(key)
                    fh.flush()
                    os.fsync(fh.fileno())
        try:
            return cls(path.read_bytes().strip())
        except OSError as exc:
            raise ConfigurationError(f"cannot read secret key file {path}: {exc.strerror}") from exc

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken as exc:
            raise LedgerError("a stored system secret cannot be decrypted with this key file") from exc


def generate_secret() -> str:
    """A fresh random secret for a system (URL-safe, 256 bits)."""
    return _secrets.token_urlsafe(32)


__all__ = ["SecretBox", "generate_secret"]
