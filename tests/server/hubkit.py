"""Test kit: real hubs on 127.0.0.1 (uvicorn in a thread, port chosen by the OS) and a hand-written client.

``sdk_headers`` is written from shared/docs/edxml-qcvn102.md §6.1/§6.2a alone, without importing
the gateway's own signing code, so the tests check the server against an independent reading of
the SDK's scheme.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import httpx
import uvicorn

from gateway.config import HubSettings
from gateway.server import create_app

VN = timezone(timedelta(hours=7))


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RunningHub:
    def __init__(self, settings: HubSettings, sock: socket.socket):
        self.settings = settings
        self.sock = sock
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(settings, migrate=True)
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)

    @property
    def ledger(self):
        return self.app.state.hub.ledger

    def start(self) -> RunningHub:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("hub did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@contextmanager
def running_hubs(*settings: HubSettings, socks: list[socket.socket] | None = None) -> Iterator[list[RunningHub]]:
    hubs = [RunningHub(s, sock) for s, sock in zip(settings, socks or [free_socket() for _ in settings], strict=True)]
    try:
        for hub in hubs:
            hub.start()
        yield hubs
    finally:
        for hub in hubs:
            hub.stop()


# -- an independent client, from the doc ---------------------------------------------------------

def sdk_timestamp(moment: datetime | None = None) -> str:
    moment = (moment or datetime.now(VN)).astimezone(VN)
    return moment.strftime("%d%m%YT%H%M%S") + "+" + f"{moment.microsecond // 1000:04d}"


def sdk_hash_file(data: bytes) -> str:
    return "".join(hex(b)[2:] for b in hashlib.sha256(data).digest())


def sdk_headers(system_id: str, secret: str, header_object: dict[str, str], content_type: str,
                timestamp: str | None = None) -> dict[str, str]:
    names = {"timestamp": timestamp or sdk_timestamp(), "systemid": system_id, "Content-Type": content_type,
             **header_object}
    signed = {"XroadVnpt-" + k: v for k, v in names.items()}
    sign_header = json.dumps(signed, separators=(",", ":"), ensure_ascii=False)
    headers = dict(signed)
    headers["XroadVnpt-sign-header-key"] = ";".join(names)
    headers["XroadVnpt-sign-header"] = sign_header
    headers["XroadVnpt-hash-header"] = hmac.new(secret.encode(), sign_header.encode(), hashlib.sha256).hexdigest()
    headers["XroadVnpt-version"] = "3.0.201608"
    headers["User-Agent"] = "JAVASDKAgent/1.0.0 XRoad/VPCP"
    headers["Content-Type"] = content_type
    return headers


def sdk_send(url: str, system_id: str, secret: str, data: bytes, messagetype: str = "edoc",
             timestamp: str | None = None, tamper: dict[str, str] | None = None) -> httpx.Response:
    """sendEdoc as the SDK's example does it: no ``to`` header, body = file + CRLF."""
    headers = sdk_headers(system_id, secret, {"from": system_id, "servicetype": "eDoc", "messagetype": messagetype,
                                              "hash-file": sdk_hash_file(data)},
                          "application/octet-stream", timestamp)
    headers.update(tamper or {})
    return httpx.post(f"{url}/sendEdoc", content=data + b"\r\n", headers=headers, timeout=30)


def sdk_call(url: str, op: str, system_id: str, secret: str, header_object: dict[str, str],
             body: bytes = b"{}", method: str = "POST") -> httpx.Response:
    headers = sdk_headers(system_id, secret, header_object, "application/json")
    return httpx.request(method, f"{url}/{op}", content=body if method == "POST" else None, headers=headers,
                         timeout=30)


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
