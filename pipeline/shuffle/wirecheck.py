"""Checking what arrives on the internal topics before the join touches it.

`telemetry.by_trace`, `telemetry.metrics` and `telemetry.skew` are written by workers, but
anything with broker access can write there too, and a field of the wrong type passes
`Span(**d)` silently and blows up later inside the engine, outside any `try`; every worker
re-reads the metrics and skew topics from the start, so all of them would crash-loop. Every
record is therefore checked field by field against the model's annotations, and a message
that fails raises WireError (the agents dead-letter and count it).

By-trace messages come in two versions (docs/architecture.md "Internal topics"): v1 holds
lists of record objects, v2 (`"v": 2`) one array per model field. v2 is checked a column at
a time, with the per-value loops run by C (`set(map(type, column))`), and its records are
built straight from the columns; v1 is still read, since v1 messages may be in flight across
an upgrade.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from itertools import chain
from typing import TYPE_CHECKING

import orjson

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
    "list[Exemplar]": _list_of(lambda v: type(v) is dict),
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


# Column checks by field type, every per-value loop in C: the types a column's values may
# have, and for maps and lists the types their contents may have.
_INT_RANGE = (-(1 << 63), (1 << 64) - 1)
_STR = frozenset((str,))
_NUM = frozenset((float, int))
_LIST = frozenset((list,))
_COLUMN_TYPES: dict[str, frozenset] = {
    "str": _STR, "int": frozenset((int,)), "bool": frozenset((bool,)), "float": _NUM,
    "float | None": frozenset((float, int, type(None))), "dict[str, str]": frozenset((dict,)),
    "list[str]": _LIST, "list[dict]": _LIST, "list[float]": _LIST, "list[int]": _LIST,
    "list[tuple[float, float]]": _LIST, "list[Exemplar]": _LIST,
}
_COLUMN_PLANS = {cls: tuple((f.name, f.type) for f in dataclasses.fields(cls)) for cls in (Span, LogRecord, MetricPoint)}


def _types_in(values) -> set:
    return set(map(type, values))


def _ints_ok(values: list) -> bool:
    """Every int among `values` (numbers) fits 64 bits; min/max run in C."""
    ints = [v for v in values if type(v) is int] if float in _types_in(values) else values
    return not ints or (min(ints) >= _INT_RANGE[0] and max(ints) <= _INT_RANGE[1])


def _column_ok(column: list, kind: str) -> bool:
    types = _types_in(column)
    if not types <= _COLUMN_TYPES[kind]:
        return False
    if kind == "int":
        return _ints_ok(column)
    if kind == "float" or kind == "float | None":  # ints are rare here (a hand-made point)
        return int not in types or _ints_ok([v for v in column if type(v) is int])
    if kind == "list[float]" or kind == "list[int]":
        inner = list(chain.from_iterable(column))
        return _types_in(inner) <= (_NUM if kind == "list[float]" else frozenset((int,))) and _ints_ok(inner)
    if kind == "list[tuple[float, float]]" or kind == "list[Exemplar]":  # rare: checked one by one
        check = _CHECKS[kind]
        return all(map(check, filter(None, column)))
    if kind == "dict[str, str]":
        return (_types_in(chain.from_iterable(map(dict.keys, column))) <= _STR
                and _types_in(chain.from_iterable(map(dict.values, column))) <= _STR)
    if kind == "list[str]":
        return _types_in(chain.from_iterable(column)) <= _STR
    if kind == "list[dict]":  # span events: rare, checked one by one
        return all(map(_CHECKS[kind], filter(None, column)))
    return True


def build_columns(cls: type, cols: object, where: str) -> list:
    """The records of one v2 column object: every field of `cls`, each a list of the same length."""
    columns = checked_columns(cls, cols, where)
    return list(map(cls, *columns)) if columns else []


def checked_columns(cls: type, cols: object, where: str) -> list[list]:
    """The columns of one v2 column object in `cls`'s field order, each checked ([] if none)."""
    if cols is None:
        return []
    if type(cols) is not dict:
        raise WireError(f"{where}: expected an object of columns, got {type(cols).__name__}")
    if not cols:
        return []
    plan = _COLUMN_PLANS[cls]
    if len(cols) != len(plan):
        names = {name for name, _ in plan}
        unknown = sorted(str(k)[:60] for k in cols.keys() - names)
        if unknown:
            raise WireError(f"{where}: unknown field {unknown[0]!r}")
        raise WireError(f"{where}: missing {sorted(names - cols.keys())}")
    columns = []
    n = -1
    for name, kind in plan:
        column = cols.get(name)
        if type(column) is not list:
            if name not in cols:
                raise WireError(f"{where}: missing [{name!r}]")
            raise WireError(f"{where}.{name}: expected an array, got {type(column).__name__}")
        if n < 0:
            n = len(column)
        elif len(column) != n:
            raise WireError(f"{where}.{name}: {len(column)} values where the other columns have {n}")
        if not _column_ok(column, kind):
            check = _CHECKS[kind]
            i = next((i for i, v in enumerate(column) if not check(v)), 0)
            raise WireError(f"{where}.{name}[{i}]: {type(column[i]).__name__} value where {kind} belongs")
        columns.append(column)
    return columns


def point_columns(cols: object) -> dict[str, list]:
    """The checked columns of one v2 metrics message's points, field name → list, with the
    exemplars and quantile pairs made the model's types again (JSON gave dicts and lists)."""
    columns = checked_columns(MetricPoint, cols, "points")
    if not columns:
        return {n: [] for n, _ in _COLUMN_PLANS[MetricPoint]}
    out = dict(zip((n for n, _ in _COLUMN_PLANS[MetricPoint]), columns))
    out["quantiles"] = [[tuple(q) for q in qs] if qs else qs for qs in out["quantiles"]]
    out["exemplars"] = [[build(Exemplar, e, f"points.exemplars[{i}][{x}]") for x, e in enumerate(ex)] if ex else ex
                        for i, ex in enumerate(out["exemplars"])]
    return out


def read_by_trace(value: bytes) -> tuple[list[Span], list[LogRecord], dict[str, Report]]:
    """The records and progress of one by-trace message, v2 (columns) or v1 (record objects);
    ValueError (WireError, or orjson's) if it is not what a worker writes."""
    data = orjson.loads(value)
    if type(data) is not dict:
        raise WireError(f"expected an object, got {type(data).__name__}")
    version = data.get("v", 1)
    if version == 2 and type(version) is int:
        extra = data.keys() - {"v", "spans", "logs", "progress"}
        if extra:
            raise WireError(f"unknown key {str(sorted(extra)[0])[:60]!r} in a v2 by-trace message")
        spans = build_columns(Span, data.get("spans"), "spans")
        logs = build_columns(LogRecord, data.get("logs"), "logs")
    elif "v" not in data:
        spans = build_all(Span, data.get("spans", []), "spans")
        logs = build_all(LogRecord, data.get("logs", []), "logs")
    else:
        raise WireError(f"by-trace message version {str(version)[:20]!r}: this worker reads 2 and v1 (no \"v\")")
    return spans, logs, progress_of(data.get("progress"))


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
