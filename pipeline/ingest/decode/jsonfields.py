"""Reading typed fields out of decoded JSON objects, with reasons that name the field.

OTLP/JSON writes camelCase keys; some producers write the protobuf (snake_case) names, which
cost one extra lookup to accept. int64 and uint64 values may be numbers or decimal strings,
and enums numbers or their names.
"""

from __future__ import annotations

from pipeline.ingest.decode.result import RecordError
from pipeline.ingest.decode.values import describe, short

_U64_MAX = (1 << 64) - 1


def is_decimal(text: str) -> bool:
    """ASCII digits only, at most 20 of them (a uint64); str.isdigit alone accepts "²"."""
    return text.isascii() and text.isdigit() and len(text) <= 20


def get(d: dict, camel: str, snake: str) -> object:
    v = d.get(camel)
    return d.get(snake) if v is None else v


def obj(v: object, field: str) -> dict:
    """A JSON object, {} when absent."""
    if v is None:
        return {}
    if type(v) is not dict:
        raise RecordError(field, f"is {describe(v)}, expected an object")
    return v  # type: ignore[return-value]


def items(v: object, field: str) -> list:
    """A JSON list, [] when absent."""
    if v is None:
        return []
    if type(v) is not list:
        raise RecordError(field, f"is {describe(v)}, expected a list")
    return v  # type: ignore[return-value]


def string(v: object, field: str) -> str:
    """A JSON string, '' when absent."""
    if v is None:
        return ""
    if type(v) is not str:
        raise RecordError(field, f"is {describe(v)}, expected a string")
    return v  # type: ignore[return-value]


def ns(v: object, field: str) -> int:
    """Unix nanoseconds as a number or decimal string; 0 when absent."""
    return unsigned(v, field, "a count of nanoseconds")


def unsigned(v: object, field: str, noun: str = "a non-negative integer") -> int:
    """A uint64 as a number or decimal string; 0 when absent."""
    t = type(v)
    if t is int:
        n = v
    elif t is str and is_decimal(v):  # type: ignore[arg-type]
        n = int(v)  # type: ignore[arg-type]
    elif v is None:
        return 0
    elif t is float and v.is_integer():  # type: ignore[union-attr]
        n = int(v)  # type: ignore[arg-type]
    else:
        raise RecordError(field, f"{short(v)} is not {noun} (number or decimal string)")
    if not 0 <= n <= _U64_MAX:  # type: ignore[operator]
        raise RecordError(field, f"{short(v)} is out of range")
    return n  # type: ignore[return-value]


def enum(v: object, names: dict[str, int], field: str) -> int:
    """An enum given as its number or its OTLP name (e.g. "SPAN_KIND_SERVER"); 0 when absent."""
    if v is None:
        return 0
    if type(v) is int:
        return v  # type: ignore[return-value]
    if type(v) is str:
        n = names.get(v)
        if n is not None:
            return n
        if is_decimal(v):
            return int(v)
    examples = ", ".join(list(names)[1:3])
    raise RecordError(field, f"{short(v)} is not a number or a known name (such as {examples})")
