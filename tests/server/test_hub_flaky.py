"""An upstream that fails half the time (500s, timeouts, dropped connections) still gets every message once.

Between hub A and its upstream hub B sits a real HTTP proxy on 127.0.0.1 that, for half of the
requests, fails: before forwarding (500, a stall past the client timeout, a dropped connection) or
after forwarding (the package reached B but the answer is lost). The second kind is what makes
exactly-once hard: A cannot know B stored it, retries, and B must recognise the same package.
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest
from hubkit import CyclingProxy, free_socket, running_hubs, send_through_relay, wait_for
from sqlalchemy import func, select

from gateway.config import HubSettings, RemoteHubSettings
from gateway.ledger import verify_chain
from gateway.ledger.models import Attempt, Message, Submission

pytestmark = [pytest.mark.db, pytest.mark.slow]

G22 = "000.00.00.G22"
CLIENT_TIMEOUT = 0.5
MODES = ["500", "stall", "drop", "stall_after", "drop_after", "500_after"]


class FlakyProxy(CyclingProxy):
    modes = tuple(MODES)

    def __init__(self, target: str):
        super().__init__(target, FlakyHandler)


class FlakyHandler(BaseHTTPRequestHandler):
    server: FlakyProxy

    def log_message(self, *args: object) -> None:
        pass

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        mode = self.server.pick()
        if mode == "500":
            return self._answer(500, b"boom")
        if mode == "stall":
            time.sleep(CLIENT_TIMEOUT * 2)
            return self._drop()
        if mode == "drop":
            return self._drop()
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in {"host", "content-length"}]
        upstream = httpx.post(f"{self.server.target}{self.path}", content=body,
                              headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers], timeout=30)
        if mode == "stall_after":
            time.sleep(CLIENT_TIMEOUT * 2)
            return self._drop()
        if mode == "drop_after":
            return self._drop()
        if mode == "500_after":
            return self._answer(500, b"lost answer")
        return self._answer(upstream.status_code, upstream.content, upstream.headers.get("content-type"))

    def _answer(self, status: int, body: bytes, content_type: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type or "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_every_message_delivered_exactly_once_through_a_flaky_upstream(tmp_path: Path, make_database_url) -> None:
    sock_b = free_socket()
    url_b = f"http://127.0.0.1:{sock_b.getsockname()[1]}"
    proxy = FlakyProxy(url_b)
    proxy_thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    proxy_thread.start()
    proxy_url = f"http://127.0.0.1:{proxy.server_address[1]}"
    a = HubSettings(data_dir=tmp_path / "A", database_url=make_database_url("flaky_a"), node_id="A.W00",
                    upstream=RemoteHubSettings(proxy_url, "A-at-B", "secret-ab", code="B.W00"),
                    client_timeout_seconds=CLIENT_TIMEOUT, client_retries=0, delivery_poll_seconds=0.05,
                    delivery_backoff_base_seconds=0.02, delivery_backoff_max_seconds=0.2, delivery_max_attempts=100)
    b = HubSettings(data_dir=tmp_path / "B", database_url=make_database_url("flaky_b"), node_id="B.W00")
    n = 24
    try:
        with running_hubs(a, b, socks=[free_socket(), sock_b]) as (hub_a, hub_b):
            edocs = send_through_relay(hub_a, hub_b, n, 20_000, recipient=G22)

            def all_sent() -> bool:
                with hub_a.ledger.reader() as s:
                    states = s.execute(select(Message.state)).scalars().all()
                return len(states) == n and all(st == "SENT" for st in states)

            wait_for(all_sent, timeout=90, interval=0.2)
            with hub_b.ledger.reader() as s:
                b_subs = dict(s.execute(select(Submission.document_id, Submission.doc_id)).all())
                b_dupes = s.execute(select(Submission.document_id).group_by(Submission.document_id)
                                    .having(func.count() > 1)).all()
                b_messages = s.execute(select(func.count()).select_from(Message)).scalar_one()
                assert verify_chain(s).ok
            with hub_a.ledger.reader() as s:
                a_msgs = s.execute(select(Message.document_id, Message.remote_doc_id)).all()
                failed = s.execute(select(Attempt.reason).where(Attempt.outcome != "delivered")).scalars().all()
                assert verify_chain(s).ok
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert b_dupes == []
    assert sorted(b_subs) == sorted(e.header.document_id for e in edocs)  # every one, exactly once
    assert b_messages == n
    for document_id, remote in a_msgs:
        assert remote == b_subs[document_id]  # A recorded B's DocId, even after lost answers
    # the proxy really misbehaved, in every way, and A saw it
    assert all(proxy.counts.get(m, 0) > 0 for m in MODES), proxy.counts
    assert len(failed) > 0 and any(r == "timeout" for r in failed)
