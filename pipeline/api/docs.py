"""`/docs` (Swagger UI) and `/redoc` without a CDN: the pages load their scripts and styles
from this server, out of the fastapi-offline package's maintained copies (package data of a
pinned dependency), so the docs work offline and an API page never pulls code from the network.
"""

from __future__ import annotations

import re
from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from pipeline.api.headers import sha256_source

ASSETS_PATH = "/docs/assets"
_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
           "redoc.standalone.js": "text/javascript", "favicon.png": "image/png"}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def _policy(html: str) -> str:
    """Scripts from this server plus the page's own inline ones (by hash); Swagger UI sets
    styles at run time and ReDoc starts a worker from a blob, so those stay allowed."""
    inline = " ".join(sha256_source(s) for s in _INLINE_SCRIPT.findall(html))
    return ("default-src 'none'; base-uri 'none'; frame-ancestors 'none'; connect-src 'self'; "
            f"img-src 'self' data:; font-src 'self' data:; script-src 'self' {inline}; "
            "style-src 'self' 'unsafe-inline'; worker-src 'self' blob:")


def register_docs(app: FastAPI, title: str) -> dict[str, str]:
    """Serve the two docs pages and their assets; returns the CSP for each page's path."""
    swagger = get_swagger_ui_html(openapi_url="/openapi.json", title=f"{title} - Swagger UI",
                                  swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
                                  swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
                                  swagger_favicon_url=f"{ASSETS_PATH}/favicon.png").body.decode()
    redoc = get_redoc_html(openapi_url="/openapi.json", title=f"{title} - ReDoc",
                           redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
                           redoc_favicon_url=f"{ASSETS_PATH}/favicon.png", with_google_fonts=False).body.decode()
    static = files("fastapi_offline") / "static"

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(swagger)

    @app.get("/redoc", include_in_schema=False)
    def redoc_page() -> HTMLResponse:
        return HTMLResponse(redoc)

    @app.get(ASSETS_PATH + "/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        if name not in _ASSETS:
            return Response(b'{"error":"Not Found"}', status_code=404, media_type="application/json")
        return Response((static / name).read_bytes(), media_type=_ASSETS[name],
                        headers={"cache-control": "public, max-age=86400"})

    return {"/docs": _policy(swagger), "/redoc": _policy(redoc)}
