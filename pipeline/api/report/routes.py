"""The report pages: index, trace view and window view, rendered on the server.

Pages read through the same functions as the JSON endpoints (`fetch_trace` for a trace,
`pipeline.rca` for the ranking), so a page never disagrees with `/v1/…`. They are left out
of the OpenAPI schema: they are for people, the JSON endpoints are the contract.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, RedirectResponse

from pipeline import rca
from pipeline.api.ids import TraceIdError, normalise_trace_id
from pipeline.api.reads import Reader
from pipeline.api.report.charts import suspect_charts
from pipeline.api.report.graph import layout
from pipeline.api.report.recent import failing_traces, latest_end_ns
from pipeline.api.report.render import page, utc
from pipeline.api.report.waterfall import waterfall
from pipeline.api.time_params import TimeFormatError, parse_time_ns
from pipeline.api.traces import fetch_trace

DEFAULT_WINDOW_NS = 15 * 60 * 1_000_000_000
MAX_CANDIDATES = 20


def _error(status: int, message: str) -> HTMLResponse:
    return HTMLResponse(page("error.html", status=status, message=message), status_code=status)


def report_routes(reader: Reader, settings: object) -> APIRouter:
    """The /report/ pages over `reader`; `settings` gives the trace join windows
    (log_window_s, metric_window_s) exactly as the trace endpoint uses them."""
    log_window_s = float(getattr(settings, "log_window_s", 1.0))
    metric_window_s = float(getattr(settings, "metric_window_s", 2.0))
    rules_file = getattr(settings, "rules_file", "") or None
    router = APIRouter(prefix="/report", include_in_schema=False, default_response_class=HTMLResponse)

    @router.get("/")
    def index() -> HTMLResponse:
        latest = latest_end_ns(reader)
        return HTMLResponse(page(
            "index.html", latest_ns=latest, error_traces=failing_traces(reader, latest) if latest else [],
            default_from=utc(latest - DEFAULT_WINDOW_NS) if latest else "",
            default_to=utc(latest) if latest else ""))

    @router.get("/trace", response_model=None)
    def trace_form(trace_id: str = "") -> HTMLResponse | RedirectResponse:
        try:
            tid = normalise_trace_id(trace_id.strip())
        except TraceIdError as exc:
            return _error(400, str(exc))
        return RedirectResponse(f"/report/trace/{tid}", status_code=303)

    @router.get("/trace/{trace_id}")
    def trace_page(trace_id: str) -> HTMLResponse:
        try:
            tid = normalise_trace_id(trace_id)
        except TraceIdError as exc:
            return _error(400, str(exc))
        trace = fetch_trace(reader, tid, log_window_s, metric_window_s)
        if trace is None:
            return _error(404, f"trace {tid} is not stored")
        wf = waterfall(trace)
        first_failure = next((r for r in wf["rows"] if r["own_error"]), None) or \
            next((r for r in wf["rows"] if r["is_error"]), None)
        return HTMLResponse(page("trace.html", trace=trace, wf=wf, ranking=rca.rank_trace(reader, tid, rules_file=rules_file),
                                 open_span=first_failure["span"]["span_id"] if first_failure else None))

    @router.get("/window")
    def window_page(from_: Annotated[str, Query(alias="from")], to: str, service: str = "",
                    limit: Annotated[int, Query(ge=1, le=MAX_CANDIDATES)] = 5) -> HTMLResponse:
        try:
            lo, hi = parse_time_ns(from_), parse_time_ns(to)
        except TimeFormatError as exc:
            return _error(400, str(exc))
        try:
            ranking = rca.rank_window(reader, lo, hi, service.strip() or None, limit, rules_file=rules_file)
        except rca.WindowError as exc:
            return _error(400, str(exc))
        scores = [c.get("score") or 0.0 for c in ranking.get("candidates", [])]
        return HTMLResponse(page(
            "window.html", r=ranking, g=layout(ranking.get("graph") or {}), charts=suspect_charts(reader, ranking),
            suspect=(ranking.get("candidates") or [None])[0], max_score=max([s for s in scores if s > 0] or [1.0]),
            form={"from": from_, "to": to, "service": service}))

    return router

