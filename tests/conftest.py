"""Suite-wide guards: tests talk to 127.0.0.1 only (the brief's network rule), enforced in-process.
Private keys are parsed once per process (tests/key_memo.py: a large part of the signing tests' time)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import key_memo
import pytest

key_memo.install()

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _check_address(sock: socket.socket, address: Any) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # Unix sockets (PostgreSQL's local socket, SoftHSM…) are local by definition
    host = address[0] if isinstance(address, tuple) else address
    if host in ("localhost",):
        return
    try:
        ip = ipaddress.ip_address(host)
    except ValueError as exc:
        raise OSError(f"test tried to connect to {host!r}; tests may only use 127.0.0.1") from exc
    if not ip.is_loopback:
        raise OSError(f"test tried to connect to {host}; tests may only use loopback addresses")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check_address(self, address)
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check_address(self, address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True, scope="session")
def _loopback_only() -> Iterator[None]:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]
