"""Prometheus request metrics, one registry per app so several apps (tests, a worker with an
API) never clash over the process-global default registry."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestMetrics:
    """The API's own metrics, exposed together with any `extra` registries (a worker's, when
    the worker serves the API)."""

    def __init__(self, extra: tuple[CollectorRegistry, ...] = ()) -> None:
        self.extra = extra
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("telecorr_api_requests", "HTTP requests answered",
                                ("endpoint", "method", "status"), registry=self.registry)
        self.latency = Histogram("telecorr_api_request_seconds", "Time to answer an HTTP request",
                                 ("endpoint", "method", "status"), buckets=LATENCY_BUCKETS,
                                 registry=self.registry)

    def exposition(self) -> tuple[bytes, str]:
        return b"".join(generate_latest(r) for r in (self.registry, *self.extra)), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Counts and times every HTTP request by route template (not raw path, so trace ids do
    not explode the label set) and final status."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            labels = (endpoint, scope.get("method", ""), str(status["code"]))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - started)
