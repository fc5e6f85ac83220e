"""The FastAPI application: routes, error shapes, bearer-token check and request metrics.

`create_app` takes the ClickHouse client rather than opening one, so `telecorr api` can
serve its own store and `telecorr worker --api` the worker's (chDB allows one process per
data directory). Every error, including malformed input FastAPI itself rejects, is a JSON
`{"error": "..."}` with a 4xx status naming the problem; 5xx is left for a failing store.
"""

from __future__ import annotations

import hmac
import os
from typing import Annotated

import orjson
from clickhouse_connect.driver.exceptions import ClickHouseError
from fastapi import Body, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline.api import report
from pipeline.api.bodylimit import BodyLimit
from pipeline.api.docs import register_docs
from pipeline.api.headers import SecurityHeaders
from pipeline.api.ids import TraceIdError, normalise_trace_id
from pipeline.api.instrument import MetricsMiddleware, RequestMetrics
from pipeline.api.logsearch import DEFAULT_LIMIT, MAX_LIMIT, search_logs
from pipeline.api.reads import Reader, ReadLimitError, ReadLimits, error_code
from pipeline.api.report.browser_token import LOGIN, login_redirect
from pipeline.api.series import series_routes
from pipeline.api.time_params import TimeFormatError, parse_time_ns
from pipeline.api.traces import fetch_trace
from pipeline.query import QueryError
from pipeline.redact import redact
from pipeline.rca import WindowError, rank_trace, rank_window

PUBLIC_PATHS = frozenset({"/healthz", LOGIN})
DEFAULT_CANDIDATES, MAX_CANDIDATES = 5, 50
# ClickHouse codes that mean "this query's arguments are unacceptable", i.e. user input.
_BAD_ARGUMENT_CODES = frozenset({6, 36, 43, 69, 427})


class JsonResponse(Response):
    """orjson rendering: NaN/inf metric values become null instead of failing the response."""

    media_type = "application/json"

    def render(self, content: object) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


class ErrorBody(BaseModel):
    error: str
    position: int | None = None
    expected: str | None = None


class LogSearchRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    query: str = Field(max_length=10_000, description="telecorr query language (docs/query-language.md)")
    from_: str | int | None = Field(None, alias="from",
                                    description="RFC 3339 time or Unix nanoseconds; omitted: unbounded")
    to: str | int | None = Field(None, description="RFC 3339 time or Unix nanoseconds; omitted: unbounded")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


_ERRORS = {s: {"model": ErrorBody} for s in (400, 401, 413, 422)}
# The pattern is documentation only: the handler checks ids itself, to name what is wrong.
TraceId = Annotated[str, Path(description="32 hex digits; a 16-digit (64-bit) id is left-padded with zeros",
                              json_schema_extra={"pattern": "^([0-9a-fA-F]{16}|[0-9a-fA-F]{32})$"})]


def create_app(settings: object, client, extra_registries: tuple = ()) -> FastAPI:
    """The API over `client` (a clickhouse-connect client); every read carries the limits
    from `settings` (api_max_execution_s, api_max_result_rows). Give it a client of its own:
    in a process that already writes, `connect(dsn)` again opens a second session on the same
    embedded engine, so chDB's session quirks (a non-SELECT refused in read-only mode leaves
    the session read-only) can never reach the writer. The bearer token is read from the
    environment only (TELECORR_API_TOKEN), so `telecorr config` never prints it."""
    reader = Reader(client, ReadLimits.from_settings(settings))
    metrics = RequestMetrics(extra_registries)
    token = os.environ.get("TELECORR_API_TOKEN", "")
    log_window_s = float(getattr(settings, "log_window_s", 1.0))
    metric_window_s = float(getattr(settings, "metric_window_s", 2.0))
    rules_file = getattr(settings, "rules_file", None) or None
    max_body = int(getattr(settings, "api_max_body_bytes", 256 * 1024))

    # /docs and /redoc are served by register_docs from local assets (FastAPI's own load a CDN).
    app = FastAPI(title="telecorr", version="1", default_response_class=JsonResponse, docs_url=None, redoc_url=None,
                  description="Traces, logs and root causes from telecorr's ClickHouse store.")

    @app.middleware("http")
    async def require_token(request: Request, call_next):
        if token and request.url.path not in PUBLIC_PATHS:
            given = request.headers.get("authorization", "")
            scheme, _, value = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
                if request.url.path.startswith("/report") and request.method == "GET":
                    return login_redirect(request)  # a person in a browser: the sign-in form
                return JsonResponse({"error": "missing or wrong bearer token (Authorization: Bearer <token>)"},
                                    status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return await call_next(request)

    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JsonResponse:
        return JsonResponse({"error": exc.message, **exc.extra}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JsonResponse:
        problems = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
            problems.append(f"{where}: {e.get('msg', 'invalid')}")
        return JsonResponse({"error": "; ".join(problems) or "invalid request"}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JsonResponse:
        return JsonResponse({"error": str(exc.detail)}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(ReadLimitError)
    async def limit_error(_: Request, exc: ReadLimitError) -> JsonResponse:
        return JsonResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(ClickHouseError)
    async def store_error(_: Request, exc: ClickHouseError) -> JsonResponse:
        first = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        if error_code(exc) in _BAD_ARGUMENT_CODES:
            return JsonResponse({"error": f"ClickHouse rejected the query: {first}"}, status_code=400)
        return JsonResponse({"error": f"ClickHouse failed: {first}"}, status_code=503)

    @app.get("/v1/traces/{trace_id}", responses={**_ERRORS, 404: {"model": ErrorBody}},
             summary="One trace: its spans with their logs and metric readings")
    def get_trace(trace_id: TraceId) -> JsonResponse:
        tid = _trace_id(trace_id)
        trace = fetch_trace(reader, tid, log_window_s, metric_window_s)
        if trace is None:
            raise ApiError(404, f"trace {tid} is not stored")
        return JsonResponse(trace)

    @app.post("/v1/logs/search", responses=_ERRORS,
              summary="Logs matching a query-language expression, newest first")
    def post_logs_search(body: Annotated[LogSearchRequest, Body()]) -> JsonResponse:
        from_ns = _time(body.from_, "from")
        to_ns = _time(body.to, "to")
        if from_ns is not None and to_ns is not None and from_ns > to_ns:
            raise ApiError(400, "'from' is after 'to'")
        try:
            return JsonResponse(search_logs(reader, body.query, from_ns, to_ns, body.limit))
        except QueryError as exc:
            raise ApiError(400, f"query: {exc}", position=exc.position, expected=exc.expected) from exc

    @app.get("/v1/root-cause", responses={**_ERRORS, 404: {"model": ErrorBody}},
             summary="Ranked root-cause candidates for one trace, or for a time window against its baseline")
    def get_root_cause(
        trace_id: Annotated[str | None, Query(description="rank one trace (32 hex digits)")] = None,
        from_: Annotated[str | None, Query(alias="from", description="window start: RFC 3339 or Unix ns")] = None,
        to: Annotated[str | None, Query(description="window end: RFC 3339 or Unix ns")] = None,
        service: Annotated[str | None, Query(max_length=200, description="only this service and what it calls")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_CANDIDATES)] = DEFAULT_CANDIDATES,
    ) -> JsonResponse:
        if trace_id is not None:
            if from_ is not None or to is not None or service is not None:
                raise ApiError(400, "give either trace_id, or from and to (with an optional service), not both")
            tid = _trace_id(trace_id)
            answer = rank_trace(reader, tid, limit, rules_file)
            if answer is None:
                raise ApiError(404, f"trace {tid} is not stored or not correlated yet")
            return JsonResponse(answer)
        if from_ is None or to is None:
            raise ApiError(400, "give trace_id, or both from and to")
        lo, hi = _time(from_, "from"), _time(to, "to")
        try:
            return JsonResponse(rank_window(reader, lo, hi, service or None, limit, rules_file=rules_file))
        except WindowError as exc:
            raise ApiError(400, str(exc)) from exc

    @app.get("/healthz", responses={503: {"model": ErrorBody}}, summary="Whether ClickHouse answers")
    def healthz() -> JsonResponse:
        if not reader.healthy():  # why is in the server's log, never in this public answer
            return JsonResponse({"status": "unavailable", "error": "ClickHouse does not answer"}, status_code=503)
        return JsonResponse({"status": "ok"})

    @app.get("/metrics", response_class=Response, summary="Prometheus metrics of this API")
    def prometheus() -> Response:
        data, content_type = metrics.exposition()
        return Response(data, media_type=content_type)

    app.include_router(series_routes(reader))
    policies = report.register(app, reader, settings, token)
    policies.update(register_docs(app, "telecorr"))
    app.add_middleware(SecurityHeaders, policies=policies)
    app.add_middleware(BodyLimit, max_bytes=max_body)  # outermost: no body is read before it counts
    app.state.reader = reader
    app.state.metrics = metrics
    return app


def _trace_id(value: str) -> str:
    try:
        return normalise_trace_id(value)
    except TraceIdError as exc:
        raise ApiError(400, str(exc)) from exc


def _time(value: str | int | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_time_ns(value)
    except TimeFormatError as exc:
        raise ApiError(400, f"{name}: {exc}") from exc
