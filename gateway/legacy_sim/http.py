"""A tiny threaded HTTP server on 127.0.0.1 around one handler function.

Used by the legacy simulator and by tests that mount the SOAP push service; the hub's real
server (FastAPI) mounts the same framework-free handlers later.  Port 0 picks a free port, so
parallel test runs never collide.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class HttpReply:
    status: int
    body: bytes
    content_type: str = "text/xml; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[str, str, Mapping[str, str], bytes], HttpReply]
"""(method, path with query, headers, body) -> reply."""

MAX_BODY = 64 * 1024 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


class LocalHttpServer:
    """Start/stop a handler on ``127.0.0.1:<free port>``."""

    def __init__(self, handler: Handler, *, host: str = "127.0.0.1", port: int = 0):
        self.handler = handler
        outer = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The headers and the body go out in two writes. With Nagle on, the body waits for
            # the client's (delayed, ~40 ms) ACK of the headers: 44 ms per keep-alive call.
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self.send_error(413)
                    return
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    reply = outer.handler(self.command, self.path, headers, body)
                except Exception as exc:  # the server must answer, whatever the handler did
                    reply = HttpReply(500, f"internal error: {type(exc).__name__}".encode(), "text/plain")
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(reply.body)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (timeout tests): nothing to do

            do_GET = _serve
            do_POST = _serve

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: tests and the demo do not want access logs on stderr."""

        self._server = _Server((host, port), RequestHandler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalHttpServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="lienthong-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalHttpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["Handler", "HttpReply", "LocalHttpServer"]
