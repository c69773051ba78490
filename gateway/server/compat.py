"""SDK compatibility: answer axis refusals with HTTP 200 and the FAIL JSON.

The hub answers a refusal with a meaningful HTTP status (401, 403, 409, 413, 422 …) and the axis
JSON ``{"status": "FAIL", "ErrorCode", "ErrorDesc"}``. Agency software built on a client that only
reads the body of a 200 answer (Java's ``HttpURLConnection.getInputStream()`` throws on 4xx) would
then see a bare I/O error instead of the reason. With ``fail_with_http_200`` set, this middleware
rewrites the status of 4xx answers on the axis operations to 200, so such clients read the FAIL
JSON as they would from the national axis. 5xx answers (retry later) are left as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class FailAs200Middleware:
    """Pure ASGI middleware: 4xx → 200 on the given paths (the body is already the FAIL JSON)."""

    def __init__(self, app: ASGIApp, paths: Iterable[str]):
        self.app = app
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") not in self.paths:
            await self.app(scope, receive, send)
            return

        async def send_rewritten(message: Message) -> None:
            if message["type"] == "http.response.start" and 400 <= int(message["status"]) < 500:
                message = {**message, "status": 200}
            await send(message)

        await self.app(scope, receive, send_rewritten)


def axis_paths(routes: Iterable[Any]) -> set[str]:
    """The paths of the axis API router (``/sendEdoc``, ``/getEdoc`` …)."""
    return {str(getattr(r, "path", "")) for r in routes if getattr(r, "path", "")}
