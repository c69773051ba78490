"""The axis client's retry policy against a real HTTP server on 127.0.0.1 (no MockTransport).

The scripted server answers each request from a list — HTTP 503/429/502, a connection closed
without an answer, an answer slower than the client's timeout, a refusal, a success — and records
what arrived. The client's sleeps are recorded (not slept) so the backoff schedule is checked
exactly, without timing assertions.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gateway.errors import TransportTimeoutError, UpstreamUnavailableError
from gateway.transport.axis import AxisClient

OK = (200, {"status": "OK", "ErrorCode": "0", "DocId": "D-42"})
DROP = "drop"  # close the connection without answering
SLOW = "slow"  # answer after the client's timeout


class ScriptedAxis(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, answers: list[object]):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers = answers
        self.seen: list[tuple[str, str, bytes, dict[str, str]]] = []
        self.lock = threading.Lock()

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out closed its end before the slow answer: expected here

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: ScriptedAxis

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.seen.append((self.command, self.path, body, dict(self.headers)))
            answer = self.server.answers.pop(0) if self.server.answers else OK
        if answer == DROP:
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if answer == SLOW:
            time.sleep(1.5)
            answer = OK
        status, payload = answer  # type: ignore[misc]
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if not isinstance(payload, bytes) else "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST


@pytest.fixture
def axis() -> Iterator[ScriptedAxis]:
    server = ScriptedAxis([])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _client(axis: ScriptedAxis, retries: int, sleeps: list[float], timeout: float = 0.5) -> AxisClient:
    return AxisClient(axis.url, "sys-a", "secret-a", retries=retries, timeout=timeout, backoff_base=0.5,
                      backoff_max=3.0, sleep=sleeps.append)


def _check_backoff(sleeps: list[float], base: float = 0.5, cap: float = 3.0) -> None:
    for i, slept in enumerate(sleeps):
        delay = min(cap, base * 2**i)
        assert delay / 2 <= slept <= delay, (i, slept, sleeps)


def test_retryable_failures_over_http_are_retried_with_the_same_body_then_delivered(axis: ScriptedAxis) -> None:
    axis.answers[:] = [(503, {"status": "FAIL"}), (429, b"busy"), DROP, (502, b"<html>bad gateway</html>"),
                       SLOW, OK]
    sleeps: list[float] = []
    with _client(axis, retries=5, sleeps=sleeps) as client:
        outcome = client.deliver(b"<edXML/>")
    assert (outcome.result, outcome.doc_id, outcome.tries) == ("delivered", "D-42", 6)
    assert len(axis.seen) == 6 and {s[2] for s in axis.seen} == {b"<edXML/>\r\n"}
    assert {s[1] for s in axis.seen} == {"/sendEdoc"}
    # each try is signed afresh (a retried request is not a replay of an old timestamp)
    assert all("XroadVnpt-hash-header" in s[3] for s in axis.seen)
    assert len(sleeps) == 5
    _check_backoff(sleeps)


def test_retries_are_bounded_and_the_outcome_is_unknown(axis: ScriptedAxis) -> None:
    axis.answers[:] = [(503, b"down")] * 10
    sleeps: list[float] = []
    with _client(axis, retries=2, sleeps=sleeps) as client:
        outcome = client.deliver(b"<edXML/>")
        assert outcome.result == "unknown" and outcome.tries == 3, outcome
        assert "503" in (outcome.error or "")
    assert len(axis.seen) == 3 and len(sleeps) == 2
    _check_backoff(sleeps)


def test_backoff_is_capped(axis: ScriptedAxis) -> None:
    axis.answers[:] = [(503, b"down")] * 8
    sleeps: list[float] = []
    with _client(axis, retries=7, sleeps=sleeps) as client:
        assert client.deliver(b"x").result == "unknown"
    assert len(sleeps) == 7
    _check_backoff(sleeps)
    assert max(sleeps) <= 3.0 and min(sleeps[3:]) >= 1.5  # 0.5, 1, 2, then the 3 s cap


def test_a_refusal_is_never_retried(axis: ScriptedAxis) -> None:
    axis.answers[:] = [(200, {"status": "FAIL", "ErrorCode": "-1", "ErrorDesc": "bad package"})]
    sleeps: list[float] = []
    with _client(axis, retries=5, sleeps=sleeps) as client:
        outcome = client.deliver(b"<edXML/>")
    assert (outcome.result, outcome.tries) == ("refused", 1)
    assert "bad package" in (outcome.error or "")
    assert len(axis.seen) == 1 and sleeps == []


def test_an_http_4xx_without_json_is_unknown_and_retried(axis: ScriptedAxis) -> None:
    """An intermediary's HTML 400 says nothing about what the axis did: the outcome is unknown, never a
    final refusal (issue 14), so it is retried and ends as a retryable error, not a refusal."""
    axis.answers[:] = [(400, b"<html>bad request</html>")] * 3
    sleeps: list[float] = []
    with _client(axis, retries=2, sleeps=sleeps) as client, pytest.raises(UpstreamUnavailableError, match="unknown"):
        client.update_status("D-1", "done")
    assert len(axis.seen) == 3 and len(sleeps) == 2


def test_operations_raise_typed_errors_once_retries_are_exhausted(axis: ScriptedAxis) -> None:
    axis.answers[:] = [SLOW, SLOW]
    sleeps: list[float] = []
    with _client(axis, retries=1, sleeps=sleeps, timeout=0.3) as client, \
            pytest.raises(TransportTimeoutError, match="did not answer in time") as info:
        client.received_list("edoc")
    assert info.value.tries == 2  # type: ignore[attr-defined]
    axis.answers[:] = [(500, b"x")]
    with _client(axis, retries=0, sleeps=sleeps) as client, pytest.raises(UpstreamUnavailableError, match="500"):
        client.send_edoc(b"<edXML/>")


def test_a_closed_port_is_unavailable_and_retried(axis: ScriptedAxis) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, never listening: connection refused
        sleeps: list[float] = []
        with AxisClient(dead, "sys-a", "k", retries=2, timeout=0.5, sleep=sleeps.append) as client:
            outcome = client.deliver(b"x")
    assert (outcome.result, outcome.reason, outcome.tries) == ("unknown", "connection", 3)
    assert len(sleeps) == 2
