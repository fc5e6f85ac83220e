"""The root-cause report pages (server-rendered HTML, inline CSS/JS/SVG, no network at run
time): `register(app, reader, settings)` adds them to the API app."""

from __future__ import annotations

from fastapi import FastAPI

from pipeline.api.reads import Reader
from pipeline.api.report.browser_token import BrowserToken
from pipeline.api.report.routes import report_routes


def register(app: FastAPI, reader: Reader, settings: object) -> None:
    """Serve /report/ from `app`. Call it after the app's token check is installed: the
    browser-token middleware must run before that check to hand it the token."""
    app.add_middleware(BrowserToken)
    app.include_router(report_routes(reader, settings))
