"""A request-body size limit for the API (api_max_body_bytes).

Without it a client could make the API read and parse any body it sends (30 MB and more)
before validation says no. A declared Content-Length over the limit is refused before anything
is read; a body sent without one (chunked) is read only up to the limit, and refused the moment
it passes it. Either way the answer is 413 with the API's JSON error naming the setting. Bodies
within the limit (one endpoint takes one: a log search of at most 10,000 characters) are read
here and handed on whole.
"""

from __future__ import annotations

import orjson


class BodyLimit:
    """ASGI middleware; install it outermost so nothing reads a body before it counts."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await self._refuse(send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                return await self.app(scope, _replay(message, receive), send)
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await self._refuse(send)
            if not message.get("more_body"):
                break
        await self.app(scope, _replay({"type": "http.request", "body": b"".join(chunks), "more_body": False}, receive),
                       send)

    async def _refuse(self, send) -> None:
        body = orjson.dumps({"error": f"the request body is larger than {self.max_bytes} bytes (api_max_body_bytes)"})
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _replay(first: dict, receive):
    """A receive that gives `first` once, then whatever the server sends (a disconnect)."""
    pending = [first]

    async def replayed() -> dict:
        return pending.pop() if pending else await receive()
    return replayed
