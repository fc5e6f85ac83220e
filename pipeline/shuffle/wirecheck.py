"""Checking what arrives on the internal topics before the join touches it.

`telemetry.by_trace`, `telemetry.metrics` and `telemetry.skew` are written by workers, but
anything with broker access can write there too, and a field of the wrong type passes
`Span(**d)` silently and blows up later inside the engine, outside any `try`; every worker
re-reads the metrics and skew topics from the start, so all of them would crash-loop. Every
record is therefore checked field by field against the model's annotations, and a message
that fails raises WireError (the agents dead-letter and count it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from pipeline.model import Exemplar, LogRecord, MetricPoint, Span

if TYPE_CHECKING:  # annotations only: pipeline.worker.progress imports the decoders' chain
    from pipeline.worker.progress import Report


class WireError(ValueError):
    """An internal-topic message is not what a worker writes; the message says where."""


def _is_int(v: object) -> bool:
    return type(v) is int and -(1 << 63) <= v < (1 << 64)  # type: ignore[operator]


def _is_num(v: object) -> bool:
    return type(v) is float or _is_int(v)


def _str_map(v: object) -> bool:
    return type(v) is dict and all(type(k) is str and type(x) is str for k, x in v.items())  # type: ignore[union-attr]


def _event(v: object) -> bool:
    return (type(v) is dict and type(v.get("name")) is str and _is_int(v.get("time_ns"))  # type: ignore[union-attr]
            and _str_map(v.get("attributes")))  # type: ignore[union-attr]


def _list_of(check: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda v: type(v) is list and all(map(check, v))  # type: ignore[arg-type]


_CHECKS: dict[str, Callable[[object], bool]] = {
    "str": lambda v: type(v) is str,
    "int": _is_int,
    "bool": lambda v: type(v) is bool,
    "float": _is_num,
    "float | None": lambda v: v is None or _is_num(v),
    "dict[str, str]": _str_map,
    "list[str]": _list_of(lambda v: type(v) is str),
    "list[dict]": _list_of(_event),
    "list[float]": _list_of(_is_num),
    "list[int]": _list_of(_is_int),
    "list[tuple[float, float]]": _list_of(lambda v: type(v) is list and len(v) == 2 and all(map(_is_num, v))),  # type: ignore[arg-type]
}


def _plan(cls: type) -> tuple[dict[str, tuple[Callable[[object], bool], str]], set[str]]:
    """Each field's check and type, and the fields without a default (which must be present)."""
    checks, required = {}, set()
    for f in dataclasses.fields(cls):
        if f.type != "list[Exemplar]":
            checks[f.name] = (_CHECKS[f.type], f.type)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.add(f.name)
    return checks, required


_PLANS = {cls: _plan(cls) for cls in (Span, LogRecord, MetricPoint, Exemplar)}


def build(cls: type, d: object, where: str):
    """`cls(**d)` once every field of `d` has the model's type (exemplars are built too)."""
    if type(d) is not dict:
        raise WireError(f"{where}: expected an object, got {type(d).__name__}")
    checks, required = _PLANS[cls]
    missing = required - d.keys()
    if missing:
        raise WireError(f"{where}: missing {sorted(missing)}")
    for key, value in d.items():
        plan = checks.get(key)
        if plan is None:
            if cls is MetricPoint and key == "exemplars":
                continue
            raise WireError(f"{where}: unknown field {str(key)[:60]!r}")
        if not plan[0](value):
            raise WireError(f"{where}.{key}: {type(value).__name__} value where {plan[1]} belongs")
    if cls is MetricPoint:
        ex = d.get("exemplars", [])
        if type(ex) is not list:
            raise WireError(f"{where}.exemplars: not a list")
        d = {**d, "exemplars": [build(Exemplar, e, f"{where}.exemplars[{i}]") for i, e in enumerate(ex)],
             "quantiles": [tuple(q) for q in d.get("quantiles", [])]}
    return cls(**d)


def build_all(cls: type, items: object, where: str) -> list:
    if type(items) is not list:
        raise WireError(f"{where}: expected a list, got {type(items).__name__}")
    return [build(cls, d, f"{where}[{i}]") for i, d in enumerate(items)]


def progress_of(data: object) -> dict[str, Report]:
    """Source-progress reports (pipeline/worker/progress.py): {source: [newest time or null, behind]}."""
    if data is None:
        return {}
    if type(data) is not dict:
        raise WireError(f"progress: expected an object, got {type(data).__name__}")
    out = {}
    for src, entry in data.items():
        if type(entry) is not list or len(entry) != 2 or not (entry[0] is None or _is_int(entry[0])) \
                or type(entry[1]) not in (bool, int):
            raise WireError(f"progress[{str(src)[:60]!r}]: expected [time or null, true/false]")
        out[src] = (entry[0], bool(entry[1]))
    return out


def skew_samples(data: object) -> list[tuple[int, str, str, list]]:
    """Skew sketch entries [[epoch, parent host, child host, [[hash, delta], ...]], ...]."""
    if type(data) is not list:
        raise WireError(f"skew samples: expected a list, got {type(data).__name__}")
    for i, entry in enumerate(data):
        if (type(entry) is not list or len(entry) != 4 or not _is_int(entry[0]) or type(entry[1]) is not str
                or type(entry[2]) is not str or type(entry[3]) is not list
                or not all(type(p) is list and len(p) == 2 and _is_int(p[0]) and _is_int(p[1]) for p in entry[3])):
            raise WireError(f"skew samples[{i}]: expected [epoch, parent host, child host, [[hash, delta], ...]]")
    return data  # type: ignore[return-value]
