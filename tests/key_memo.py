"""Private keys parsed once per test process: the same bytes give the same (immutable) key object.

cryptography re-validates an RSA private key every time it parses one (about 60 ms on this
machine kind), and pyHanko parses its key again for every raw signature and every dummy
timestamp token: two to four parses per signed test PDF. In two of the slowest verifier tests
they were about 40 % of the time (1.0 of 2.6 s, session 8), paid again by every mutant of
``make mutation`` that runs them. Installed by tests/conftest.py for the whole suite.

What does not change: a call is memoised only when it *succeeded*, keyed by every argument (the
bytes, the password and the keywords, ``unsafe_skip_rsa_key_validation`` included), so a wrong
password, a damaged key or a call that asks for validation of bytes only ever parsed without it
still reaches cryptography and fails there as it would.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import serialization

_MEMO: dict[tuple[str, bytes, bytes | None, tuple[tuple[str, Any], ...]], Any] = {}


def _memoised(name: str, parse: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(parse)
    def load(data: bytes, password: bytes | None = None, **kwargs: Any) -> Any:
        key = (name, bytes(data), password, tuple(sorted(kwargs.items())))
        found = _MEMO.get(key)
        if found is None:
            found = _MEMO[key] = parse(data, password, **kwargs)
        return found

    load.__wrapped_parse__ = parse  # type: ignore[attr-defined]
    return load


def install() -> None:
    """Replace ``serialization.load_{pem,der}_private_key`` (looked up by attribute by pyHanko and
    by gateway.signing.keys) with memoising wrappers; idempotent."""
    for name in ("load_pem_private_key", "load_der_private_key"):
        current = getattr(serialization, name)
        if not hasattr(current, "__wrapped_parse__"):
            setattr(serialization, name, _memoised(name, current))
