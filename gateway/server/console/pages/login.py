"""``/console/login`` (operator key → session cookie), ``/console/logout``, ``/console/lang/{vi|en}``.

The session cookie is ``HttpOnly``, ``SameSite=Strict``, scoped to ``/console`` and ``Secure``
when the request came over https (or ``console.cookie_secure`` says so). The login form is
protected by a double-submit CSRF token (cookie + hidden field), logout by the session's token.
A failed login is logged without the key; ten failures a minute from one address are throttled.
"""

from __future__ import annotations

import logging
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.server.console.auth import LANG_COOKIE, LOGIN_CSRF_COOKIE, SESSION_COOKIE, csrf_ok
from gateway.server.console.i18n import LANGUAGES
from gateway.server.console.pages import record_async
from gateway.server.console.web import PREFIX, Console, CsrfRefused, NotLoggedIn, redirect, safe_next

log = logging.getLogger("lienthong.console")


def router(console: Console) -> APIRouter:
    r = APIRouter(prefix=PREFIX, include_in_schema=False)

    def login_page(request: Request, *, next_url: str, error: str | None, status_code: int = 200) -> Response:
        token = secrets.token_urlsafe(24)
        response = console.render(
            request,
            "login.html",
            session=None,
            status_code=status_code,
            login_csrf=token,
            next_url=next_url,
            error=error,
        )
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=console.secure_cookies(request),
            path=f"{PREFIX}/login",
            max_age=3600,
        )
        return response

    @r.get("/login")
    async def login_form(request: Request, next: str = "") -> Response:
        try:
            console.session(request)
        except NotLoggedIn:
            return login_page(request, next_url=safe_next(next), error=None)
        return redirect(safe_next(next))

    @r.post("/login")
    async def login_submit(request: Request) -> Response:
        form = await request.form()
        given = form.get("csrf")
        if not csrf_ok(request.cookies.get(LOGIN_CSRF_COOKIE), given if isinstance(given, str) else None):
            raise CsrfRefused()
        raw_next = form.get("next")
        next_url = safe_next(raw_next if isinstance(raw_next, str) else None)
        client = request.client.host if request.client else "?"
        if console.throttle.blocked(client):
            return login_page(request, next_url=next_url, error="login_throttled", status_code=429)
        key = form.get("key")
        found = console.operators.login(key) if isinstance(key, str) and key.strip() else None
        if found is None:
            console.throttle.failed(client)
            log.warning("console login refused", extra={"client": client})
            return login_page(request, next_url=next_url, error="login_failed", status_code=401)
        name, fingerprint = found
        token, _session = console.signer.issue(name, fingerprint)
        await record_async(console, "console.login", name, client=client)
        response = redirect(next_url)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=console.secure_cookies(request),
            path=PREFIX,
            max_age=console.signer.lifetime,
        )
        response.delete_cookie(LOGIN_CSRF_COOKIE, path=f"{PREFIX}/login")
        return response

    @r.post("/logout")
    async def logout(request: Request) -> Response:
        session = console.session(request)
        await console.form(request, session)
        await record_async(console, "console.logout", session.operator)
        response = redirect(f"{PREFIX}/login")
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return response

    @r.get("/lang/{lang}")
    async def language(lang: str, next: str = "") -> Response:
        response = redirect(safe_next(next))
        if lang in LANGUAGES:
            response.set_cookie(LANG_COOKIE, lang, samesite="lax", path=PREFIX, max_age=365 * 86400, httponly=True)
        return response

    return r


__all__ = ["router"]
