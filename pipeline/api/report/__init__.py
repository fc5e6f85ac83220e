"""The root-cause report pages (server-rendered HTML, inline CSS/JS/SVG, no network at run
time): `register(app, reader, settings, token)` adds them to the API app."""

from __future__ import annotations

from fastapi import FastAPI

from pipeline.api.headers import page_policy
from pipeline.api.reads import Reader
from pipeline.api.report.browser_token import BrowserToken, login_routes
from pipeline.api.report.render import inline_code
from pipeline.api.report.routes import report_routes


def register(app: FastAPI, reader: Reader, settings: object, token: str) -> dict[str, str]:
    """Serve /report/ (and its sign-in form) from `app`; returns the pages' CSP by path prefix.
    Call it after the app's token check is installed: the browser-token middleware must run
    before that check to hand it the token."""
    app.add_middleware(BrowserToken)
    app.include_router(login_routes(token))
    app.include_router(report_routes(reader, settings))
    script, style = inline_code()
    return {"/report": page_policy([script], [style])}
