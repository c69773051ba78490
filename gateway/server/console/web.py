"""What every console page shares: the Jinja2 environment, the security headers, the session guard.

Every value shown comes from packages or from the ledger and is attacker-controlled text, so the
environment escapes everything (``autoescape=True`` for every template, whatever its name) and no
template uses ``|safe``. Responses carry a strict Content-Security-Policy (no script at all, styles
only from the console's own CSS file, no framing), ``nosniff``, no referrer and ``no-store``.

Unauthenticated requests: an HTML page (a GET asking for text/html) is redirected to
``/console/login``; anything else (form posts, downloads fetched by scripts) gets 401.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from gateway.server.console.auth import (
    LANG_COOKIE,
    SESSION_COOKIE,
    LoginThrottle,
    OperatorDirectory,
    Session,
    SessionSigner,
    csrf_ok,
    load_or_create_secret,
)
from gateway.server.console.i18n import DEFAULT_LANGUAGE, LANGUAGES, Translator, translator, vn_datetime
from gateway.server.console.search import install_sqlite_casefold
from gateway.server.hub import HubService

log = logging.getLogger("lienthong.console")

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")
PREFIX = "/console"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class NotLoggedIn(Exception):
    """Raised by :meth:`Console.session`; answered by the handler in :mod:`gateway.server.console`."""

    def __init__(self, *, redirect_to: str | None):
        super().__init__("not logged in")
        self.redirect_to = redirect_to


class CsrfRefused(Exception):
    """A form without the session's CSRF token: answered 403."""


@dataclass
class Console:
    """The console's state for one app: hub, session signer, operator keys, templates, caches."""

    hub: HubService
    signer: SessionSigner
    operators: OperatorDirectory
    env: Environment
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    caches: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, hub: HubService) -> Console:
        settings = hub.settings
        secret = load_or_create_secret(settings.data_dir)
        env = Environment(
            loader=FileSystemLoader(str(TEMPLATES)),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        install_sqlite_casefold(hub.ledger.read_engine)
        env.filters["vn"] = vn_datetime
        env.filters["urlq"] = lambda v: quote(str(v), safe="")
        return cls(
            hub=hub,
            signer=SessionSigner(secret, lifetime_seconds=settings.console.session_minutes * 60),
            operators=OperatorDirectory(hub.ledger, settings),
            env=env,
        )

    # -- requests -------------------------------------------------------------------------------

    def lang(self, request: Request) -> str:
        lang = request.cookies.get(LANG_COOKIE, DEFAULT_LANGUAGE)
        return lang if lang in LANGUAGES else DEFAULT_LANGUAGE

    def t(self, request: Request) -> Translator:
        return translator(self.lang(request))

    def secure_cookies(self, request: Request) -> bool:
        forced = self.hub.settings.console.cookie_secure
        return forced if forced is not None else request.url.scheme == "https"

    def session(self, request: Request) -> Session:
        """The logged-in operator's session, else :class:`NotLoggedIn`."""
        session = self.signer.check(request.cookies.get(SESSION_COOKIE))
        if session is None or not self.operators.still_active(session):
            wants_page = request.method in {"GET", "HEAD"} and "text/html" in request.headers.get("accept", "")
            target = None
            if wants_page:
                here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                target = f"{PREFIX}/login?next={quote(here, safe='')}"
            raise NotLoggedIn(redirect_to=target)
        return session

    async def form(self, request: Request, session: Session) -> Mapping[str, Any]:
        """The posted form, after checking its CSRF token against the session's (403 otherwise)."""
        form = await request.form()
        token = form.get("csrf")
        if not csrf_ok(session.csrf, token if isinstance(token, str) else None):
            raise CsrfRefused()
        return form

    # -- responses ------------------------------------------------------------------------------

    def render(
        self,
        request: Request,
        template: str,
        *,
        session: Session | None,
        status_code: int = 200,
        **values: Any,
    ) -> Response:
        lang = self.lang(request)
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        html = self.env.get_template(template).render(
            t=translator(lang),
            lang=lang,
            session=session,
            csrf=session.csrf if session else "",
            prefix=PREFIX,
            here=here,
            node_id=self.hub.settings.node_id,
            **values,
        )
        return secure(HTMLResponse(html, status_code=status_code))


def secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def redirect(url: str) -> Response:
    return secure(RedirectResponse(url, status_code=303))


def safe_next(target: str | None) -> str:
    """Only a console path may follow a login or a language switch (no open redirect)."""
    if not target or not target.startswith(PREFIX + "/") or target.startswith("//") or "\\" in target:
        return PREFIX + "/"
    if any(c in target for c in "\r\n"):
        return PREFIX + "/"
    return target


__all__ = ["PREFIX", "Console", "CsrfRefused", "NotLoggedIn", "redirect", "safe_next", "secure"]
