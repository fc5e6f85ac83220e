"""The bearer token for report pages opened in a browser.

A link or a form cannot send an `Authorization` header, so under /report/ the token may also
come as `?token=…` (once: it is then kept in an HttpOnly, SameSite=Strict cookie scoped to
/report) or as that cookie. This middleware only turns either into the bearer header; the
app's own check still decides, so a wrong token is refused exactly as on the JSON endpoints.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from urllib.parse import parse_qs, quote, unquote

COOKIE = "telecorr_token"
PREFIX = "/report"


class BrowserToken:
    """ASGI middleware; add it outside the app's token check."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            return await self.app(scope, receive, send)
        headers = scope["headers"]
        if any(k == b"authorization" for k, _ in headers):
            return await self.app(scope, receive, send)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[-1]
        token = query or _cookie(headers)
        if not token:
            return await self.app(scope, receive, send)
        scope = {**scope, "headers": [*headers, (b"authorization", b"Bearer " + token.encode("latin-1", "replace"))]}
        if not query:
            return await self.app(scope, receive, send)

        async def remember(message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                cookie = f"{COOKIE}={quote(token, safe='')}; Path={PREFIX}; HttpOnly; SameSite=Strict"
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode())]}
            await send(message)

        await self.app(scope, receive, remember)


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
