"""Security headers on every API response, and a Content-Security-Policy on the HTML pages.

Report pages show untrusted text (log bodies, span names): autoescaping keeps it text, and the
policy makes sure that even a slip could run no script but the page's own (by hash), load
nothing from the network, and be framed by no other site. Every response also says nosniff
(a JSON error is never guessed into HTML) and sends no Referer (report URLs name traces).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping

COMMON = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
          (b"x-frame-options", b"DENY"))


def sha256_source(text: str) -> str:
    """A CSP source expression allowing exactly this inline script or style."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def page_policy(scripts: Iterable[str], styles: Iterable[str], extra: str = "") -> str:
    """A policy for a page whose only code is the given inline scripts and styles (by hash):
    nothing from other origins, no plugins, no framing, forms post back to this server only.
    Inline style attributes stay allowed (bar widths and colours are data, not code)."""
    script = " ".join(sha256_source(s) for s in scripts) or "'none'"
    style = " ".join(sha256_source(s) for s in styles) or "'none'"
    return ("default-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; "
            f"img-src 'self' data:; script-src {script}; style-src {style}; style-src-attr 'unsafe-inline'"
            + (f"; {extra}" if extra else ""))


class SecurityHeaders:
    """ASGI middleware: COMMON headers on every response, `policies[prefix]` as the CSP of
    responses under that path prefix (longest prefix wins)."""

    def __init__(self, app, policies: Mapping[str, str]) -> None:
        self.app = app
        self.policies = sorted(policies.items(), key=lambda kv: -len(kv[0]))

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        policy = next((p for prefix, p in self.policies if scope["path"].startswith(prefix)), None)
        extra = list(COMMON) + ([(b"content-security-policy", policy.encode())] if policy else [])

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)
