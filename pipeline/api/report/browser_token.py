"""The bearer token for report pages opened in a browser: a sign-in form and an HttpOnly cookie.

A link cannot send an `Authorization` header, and a token in the URL (`?token=`) would end up
in browser history, proxy and server logs and Referer headers; so the URL never carries it.
A page opened without credentials redirects to `/report/login`, whose form POSTs the token
once; a right token is kept in an HttpOnly cookie scoped to /report (SameSite=Lax: a link from
a chat or an alert still opens the page, while other sites cannot post with it) and the browser
goes on to the page it asked for. The middleware only turns the cookie into the bearer header;
the app's own check still decides, exactly as on the JSON endpoints, and the cookie opens no
JSON endpoint.
"""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, quote, unquote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pipeline.api.report.render import page

COOKIE = "telecorr_token"
PREFIX = "/report"
LOGIN = PREFIX + "/login"
COOKIE_MAX_AGE_S = 12 * 3600  # one on-call shift


class BrowserToken:
    """ASGI middleware; add it outside the app's token check."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            return await self.app(scope, receive, send)
        headers = scope["headers"]
        if "token" in parse_qs(scope.get("query_string", b"").decode("latin-1")):
            return await _refuse_query_token(scope, receive, send)
        token = _cookie(headers)
        if token and not any(k == b"authorization" for k, _ in headers):
            scope = {**scope, "headers": [*headers, (b"authorization", b"Bearer " + token.encode("latin-1", "replace"))]}
        await self.app(scope, receive, send)


async def _refuse_query_token(scope, receive, send) -> None:
    response = HTMLResponse(page("error.html", status=400, message="a token is never accepted in the URL (it would be "
                                 "kept in history and logs); sign in at /report/login instead"), status_code=400)
    await response(scope, receive, send)


def _cookie(headers: list[tuple[bytes, bytes]]) -> str:
    for key, value in headers:
        if key == b"cookie":
            jar = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 - an unreadable Cookie header just carries no token
                continue
            if COOKIE in jar:
                return unquote(jar[COOKIE].value)
    return ""


def login_redirect(request: Request) -> RedirectResponse:
    """Where a browser without a valid cookie is sent: the sign-in form, then back here."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{LOGIN}?next={quote(target, safe='')}", status_code=303)


def _safe_next(value: str) -> str:
    """Only a report page of this server (no open redirect to another site)."""
    return value if value.startswith(PREFIX + "/") and not value.startswith("//") and "\\" not in value else PREFIX + "/"


def login_routes(token: str) -> APIRouter:
    """GET shows the form, POST checks the token and sets the cookie (public paths)."""
    router = APIRouter(include_in_schema=False)

    @router.get(LOGIN)
    def login_form(next: str = PREFIX + "/") -> HTMLResponse:
        return HTMLResponse(page("login.html", next=_safe_next(next), failed=False, enabled=bool(token)))

    @router.post(LOGIN)
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        given, target = form.get("token", [""])[-1], _safe_next(form.get("next", [PREFIX + "/"])[-1])
        if not token or not hmac.compare_digest(given.encode(), token.encode()):
            return HTMLResponse(page("login.html", next=target, failed=True, enabled=bool(token)), status_code=401)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, quote(token, safe=""), max_age=COOKIE_MAX_AGE_S, path=PREFIX, httponly=True,
                            samesite="lax", secure=request.url.scheme == "https")
        return response

    return router
