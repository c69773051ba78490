"""The operator's console, served by the hub under ``/console`` (docs/console.md).

Server-rendered pages (Jinja2, no JavaScript, one CSS file): overview, documents and each
document's journey, dead letters and failures, adapters, connected systems. Login with an
operator key; signed session cookie; CSRF token on every form; every action audited with the
operator's name. :func:`install_console` mounts it on the hub's app (one line in ``app.py``).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from gateway.server.console.pages import adapters, documents, failures, login, overview, systems
from gateway.server.console.web import STATIC, Console, CsrfRefused, NotLoggedIn, redirect, secure
from gateway.server.hub import HubService

PAGES = (login, overview, documents, failures, adapters, systems)


def install_console(app: FastAPI, hub: HubService) -> Console:
    """Add the console's routes and its two exception answers (login redirect/401, CSRF 403)."""
    console = Console.build(hub)
    css = (STATIC / "console.css").read_bytes()

    @app.get("/console/static/console.css", include_in_schema=False)
    async def stylesheet() -> Response:
        return secure(Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"}))

    for page in PAGES:
        app.include_router(page.router(console))

    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(_: Request, exc: NotLoggedIn) -> Response:
        if exc.redirect_to is not None:
            return redirect(exc.redirect_to)
        return secure(JSONResponse({"detail": "login required (/console/login)"}, status_code=401))

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, _: CsrfRefused) -> Response:
        return console.render(request, "error.html", session=None, status_code=403, message_key="forbidden")

    app.state.console = console
    return console


__all__ = ["Console", "install_console"]
