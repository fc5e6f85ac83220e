"""Metric time series for charts: gauge readings of one service over a time range.

The report page draws the suspect's metrics in the window against its baseline, and
`GET /v1/metrics/series` hands the same series to anyone else. Long ranges are thinned in
ClickHouse (the mean of each time bucket) so a chart never asks for more points than it can
draw, and a wide range cannot turn into a result-size error.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from pipeline.api.reads import Reader
from pipeline.api.time_params import TimeFormatError, parse_time_ns
from pipeline.store.queries.metrics import SERIES

DEFAULT_POINTS = 400
MAX_POINTS = 5000


def metric_series(reader: Reader, service: str, from_ns: int, to_ns: int, instance: str | None = None,
                  names: list[str] | None = None, max_points: int = DEFAULT_POINTS) -> list[dict]:
    """One series per (metric name, instance) of `service` in [from_ns, to_ns]:
    `{"name", "instance", "points": [[time_ns, value], ...]}`, time-ordered, at most about
    `max_points` points each. `instance` None means every instance; `names` None every metric."""
    step = max(1, -(-(to_ns - from_ns) // max(1, max_points)))
    rows = reader.rows(SERIES, {
        "service": service, "lo": from_ns, "hi": to_ns, "step": step,
        "any_instance": instance is None, "instance": instance or "",
        "any_name": names is None, "names": list(names or []),
    })
    out: list[dict] = []
    for r in rows:
        if not out or (out[-1]["name"], out[-1]["instance"]) != (r["name"], r["inst"]):
            out.append({"name": r["name"], "instance": r["inst"], "points": []})
        out[-1]["points"].append([r["t"], r["v"]])
    return out


class InstanceSeries(BaseModel):
    instance: str
    points: list[tuple[int, float]] = Field(description="[time_ns, value] pairs, time-ordered")


class SeriesBody(BaseModel):
    service: str
    instance: str | None
    name: str
    from_ns: int
    to_ns: int
    series: list[InstanceSeries]


def series_routes(reader: Reader) -> APIRouter:
    """`GET /v1/metrics/series` over `reader`; bad input is a 400 naming the parameter."""
    router = APIRouter()

    @router.get("/v1/metrics/series", response_model=SeriesBody,
                summary="Readings of one metric of a service (optionally one instance) over a time range")
    def get_series(
        service: Annotated[str, Query(min_length=1, max_length=1000, description="service name")],
        name: Annotated[str, Query(min_length=1, max_length=1000, description="metric name")],
        from_: Annotated[str, Query(alias="from", description="RFC 3339 time or Unix nanoseconds")],
        to: Annotated[str, Query(description="RFC 3339 time or Unix nanoseconds")],
        instance: Annotated[str | None, Query(max_length=1000, description="one instance; omitted: all")] = None,
        max_points: Annotated[int, Query(ge=2, le=MAX_POINTS, description="points per series, at most")]
        = DEFAULT_POINTS,
    ) -> dict:
        lo, hi = _time(from_, "from"), _time(to, "to")
        if lo > hi:
            raise HTTPException(400, "'from' is after 'to'")
        series = metric_series(reader, service, lo, hi, instance, [name], max_points)
        return {"service": service, "instance": instance, "name": name, "from_ns": lo, "to_ns": hi,
                "series": [{"instance": s["instance"], "points": s["points"]} for s in series]}

    return router


def _time(value: str, name: str) -> int:
    try:
        return parse_time_ns(value)
    except TimeFormatError as exc:
        raise HTTPException(400, f"{name}: {exc}") from exc
