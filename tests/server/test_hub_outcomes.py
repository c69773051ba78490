"""Answers of an intermediary are classified by what they tell: never DEAD for a proxy's 408 or HTML.

Hub A delivers to hub B through a real HTTP proxy on 127.0.0.1 that, for every other request,
answers like a misbehaving intermediary: a bare 408 or an HTML page *after* forwarding the
package to B (so B stored it and A cannot know), a 429 with ``Retry-After`` in seconds, a 503
with ``Retry-After`` as an HTTP-date, a 502 HTML page, a JSON object without the axis ``status``.
Every message must end SENT (none DEAD), B must hold each package exactly once, and the
``Retry-After`` delays must be honoured by the delivery schedule.
"""

from __future__ import annotations

import email.utils
import itertools
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest
from hubkit import CyclingProxy, free_socket, running_hubs, send_through_relay, wait_for
from sqlalchemy import func, select

from gateway.config import HubSettings, RemoteHubSettings
from gateway.ledger import verify_chain
from gateway.ledger.models import Attempt, Message, Submission
from gateway.transport.outcomes import retry_after_seconds

pytestmark = [pytest.mark.db, pytest.mark.slow]

G22 = "000.00.00.G22"
RETRY_AFTER = 2
MODES = ["408_after", "429_retry_after", "html_after", "502_html", "503_date", "json_no_status", "408"]
HTML = b"<html><body><h1>Gateway Timeout</h1></body></html>"


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(email.utils.format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert retry_after_seconds(email.utils.format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0.0
    assert retry_after_seconds("999999") == 3600.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


class Intermediary(CyclingProxy):
    modes = tuple(MODES)

    def __init__(self, target: str):
        super().__init__(target, IntermediaryHandler)


class IntermediaryHandler(BaseHTTPRequestHandler):
    server: Intermediary

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        mode = self.server.pick()
        if mode == "429_retry_after":
            return self._answer(429, b"slow down", "text/plain", {"Retry-After": str(RETRY_AFTER)})
        if mode == "503_date":
            when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=RETRY_AFTER + 1), usegmt=True)
            return self._answer(503, HTML, "text/html", {"Retry-After": when})
        if mode == "502_html":
            return self._answer(502, HTML, "text/html")
        if mode == "408":
            return self._answer(408, b"", "text/plain")
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in {"host", "content-length"}]
        upstream = httpx.post(f"{self.server.target}{self.path}", content=body,
                              headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers], timeout=30)
        if mode == "408_after":
            return self._answer(408, b"Request Timeout", "text/plain")
        if mode == "html_after":
            return self._answer(200, HTML, "text/html")
        if mode == "json_no_status":
            return self._answer(400, b'{"error": "bad gateway config"}', "application/json")
        return self._answer(upstream.status_code, upstream.content, upstream.headers.get("content-type"))

    def _answer(self, status: int, body: bytes, content_type: str | None, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type or "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


def test_intermediary_answers_are_retried_not_dead_and_stored_once(tmp_path: Path, make_database_url) -> None:
    sock_b = free_socket()
    proxy = Intermediary(f"http://127.0.0.1:{sock_b.getsockname()[1]}")
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    proxy_url = f"http://127.0.0.1:{proxy.server_address[1]}"
    a = HubSettings(data_dir=tmp_path / "A", database_url=make_database_url("out_a"), node_id="A.W00",
                    upstream=RemoteHubSettings(proxy_url, "A-at-B", "secret-ab", code="B.W00"),
                    client_timeout_seconds=5, client_retries=0, delivery_poll_seconds=0.05,
                    delivery_backoff_base_seconds=0.02, delivery_backoff_max_seconds=0.1, delivery_max_attempts=50)
    b = HubSettings(data_dir=tmp_path / "B", database_url=make_database_url("out_b"), node_id="B.W00")
    n = 14
    try:
        with running_hubs(a, b, socks=[free_socket(), sock_b]) as (hub_a, hub_b):
            edocs = send_through_relay(hub_a, hub_b, n, 30_000, recipient=G22)

            def all_sent() -> bool:
                with hub_a.ledger.reader() as s:
                    states = s.execute(select(Message.state)).scalars().all()
                assert "DEAD" not in states
                return len(states) == n and all(st == "SENT" for st in states)

            wait_for(all_sent, timeout=120, interval=0.2)
            with hub_b.ledger.reader() as s:
                b_subs = dict(s.execute(select(Submission.document_id, Submission.doc_id)).all())
                b_messages = s.execute(select(func.count()).select_from(Message)).scalar_one()
                assert verify_chain(s).ok
            with hub_a.ledger.reader() as s:
                a_msgs = s.execute(select(Message.document_id, Message.remote_doc_id)).all()
                attempts = s.execute(select(Attempt).order_by(Attempt.message_id, Attempt.number)).scalars().all()
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert sorted(b_subs) == sorted(e.header.document_id for e in edocs)  # each exactly once
    assert b_messages == n
    for document_id, remote in a_msgs:
        assert remote == b_subs[document_id]
    assert all(proxy.counts.get(m, 0) > 0 for m in MODES), proxy.counts
    failed = [t for t in attempts if t.outcome != "delivered"]
    assert failed and all(t.outcome == "unknown" for t in failed)  # never "refused"
    reasons = {t.reason for t in failed}
    assert {"http_408", "http_429", "http_502", "http_503"} <= reasons, reasons
    assert any(r.startswith("unparseable_http_") for r in reasons), reasons
    # Retry-After honoured: the try after a 429/503 that asked for it came no sooner
    by_msg: dict[int, list[Attempt]] = {}
    for t in attempts:
        by_msg.setdefault(t.message_id, []).append(t)
    checked = 0
    for tries in by_msg.values():
        for before, after in itertools.pairwise(tries):
            if before.reason in {"http_429", "http_503"}:
                gap = (after.started_at - before.finished_at).total_seconds()
                assert gap >= RETRY_AFTER - 0.3, (before.reason, gap)
                checked += 1
    assert checked >= 2
