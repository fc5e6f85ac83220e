"""Attribute values and bodies as strings, and the size limits that keep one record bounded.

The model stores every attribute as a string (ClickHouse `Map(String, String)`): strings stay
as they are, ints/doubles/bools become their JSON text, arrays and key-value lists become JSON,
bytes become base64. Values over the limits are cut, never dropped, with a visible mark.
"""

from __future__ import annotations

import base64
import math

import orjson

from pipeline.ingest.decode.result import RecordError

ATTR_LIMIT = 32 * 1024  # bytes of one attribute value
BODY_LIMIT = 256 * 1024  # bytes of one log body
MAX_NESTING = 32  # arrays/kvlists inside AnyValue; deeper input is refused, not recursed into
SHORT_TEXT = ATTR_LIMIT // 4  # characters; no character takes over 4 UTF-8 bytes, so these always fit


def truncate(text: str, limit: int) -> str:
    """Cut `text` to `limit` UTF-8 bytes (on a character boundary) and say how much went."""
    if len(text) * 4 <= limit:  # cheap exit: cannot exceed the limit whatever the characters
        return text
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= limit:
        return text
    kept = raw[:limit].decode("utf-8", "ignore")
    return f"{kept}…[truncated {len(raw) - len(kept.encode('utf-8', 'surrogatepass'))} bytes]"


def _float_text(x: float) -> str:
    if math.isfinite(x):
        return orjson.dumps(x).decode()
    return "NaN" if x != x else ("Infinity" if x > 0 else "-Infinity")


def _json_default(obj: object) -> object:
    if isinstance(obj, bytes):
        return base64.b64encode(obj).decode()
    raise TypeError


def to_text(value: object) -> str:
    """A decoded AnyValue (str/bool/int/float/bytes/list/dict/None) as the stored string."""
    t = type(value)
    if t is str:
        return value  # type: ignore[return-value]
    if t is bool:
        return "true" if value else "false"
    if t is int:
        return str(value)
    if t is float:
        return _float_text(value)  # type: ignore[arg-type]
    if t is bytes:
        return base64.b64encode(value).decode()  # type: ignore[arg-type]
    if value is None:
        return ""
    return orjson.dumps(value, default=_json_default).decode()


def attr_text(value: object) -> str:
    return truncate(to_text(value), ATTR_LIMIT)


_SPECIAL_DOUBLES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def json_any(v: object, where: str, depth: int = 0) -> object:
    """An OTLP/JSON AnyValue object (`{"stringValue": …}` etc.) as a plain Python value."""
    if depth > MAX_NESTING:
        raise RecordError(where, f"values nested deeper than {MAX_NESTING} levels")
    if type(v) is not dict:
        raise RecordError(where, f"expected an AnyValue object, got {describe(v)}")
    if not v:
        return None
    for key, val in v.items():
        if key in ("stringValue", "string_value"):
            if type(val) is not str:
                raise RecordError(where, f"stringValue is {describe(val)}, expected a string")
            return val
        if key in ("intValue", "int_value"):
            return json_int(val, where + ".intValue")
        if key in ("doubleValue", "double_value"):
            return json_double(val, where + ".doubleValue")
        if key in ("boolValue", "bool_value"):
            if type(val) is not bool:
                raise RecordError(where, f"boolValue is {describe(val)}, expected true/false")
            return val
        if key in ("bytesValue", "bytes_value"):
            if type(val) is not str:
                raise RecordError(where, f"bytesValue is {describe(val)}, expected a base64 string")
            return val  # already base64 text, which is how bytes are stored
        if key in ("arrayValue", "array_value"):
            return [json_any(x, where, depth + 1) for x in _json_values(val, where, "arrayValue")]
        if key in ("kvlistValue", "kvlist_value"):
            out = {}
            for kv in _json_values(val, where, "kvlistValue"):
                k, x = _json_kv(kv, where, depth + 1)
                out[k] = x
            return out
    raise RecordError(where, f"AnyValue has no known value key (got {sorted(v)[:3]})")


def _json_values(val: object, where: str, kind: str) -> list:
    """The `values` list of an arrayValue or kvlistValue (missing: empty)."""
    items = val.get("values") if type(val) is dict else None
    if items is None:
        return []
    if type(items) is not list:
        raise RecordError(where, f"{kind}.values is not a list")
    return items


def _json_kv(kv: object, where: str, depth: int) -> tuple[str, object]:
    if type(kv) is not dict:
        raise RecordError(where, f"attribute is {describe(kv)}, expected an object with key and value")
    key = kv.get("key")
    if type(key) is not str:
        raise RecordError(where, f"attribute key is {describe(key)}, expected a string")
    val = kv.get("value")
    return key, (None if val is None else json_any(val, f"{where}[{key!r}]", depth))


def json_attrs(items: object, where: str) -> dict[str, str]:
    """OTLP/JSON attributes (a list of {key, value}) as a dict of strings."""
    if items is None:
        return {}
    if type(items) is not list:
        raise RecordError(where, f"expected a list of key/value objects, got {describe(items)}")
    out: dict[str, str] = {}
    for kv in items:
        if type(kv) is dict:  # fast path: a plain string value, short enough to need no cut
            v = kv.get("value")
            if type(v) is dict and len(v) == 1:
                k = kv.get("key")
                s = v.get("stringValue")
                if type(s) is str and type(k) is str and len(s) <= SHORT_TEXT:
                    out[k] = s
                    continue
        k, x = _json_kv(kv, where, 0)
        out[k] = attr_text(x)
    return out


def json_int(v: object, where: str) -> int:
    """An int64 as OTLP/JSON writes it: a number or a decimal string."""
    t = type(v)
    n: int | None = None
    if t is int:
        n = v  # type: ignore[assignment]
    elif t is str:
        try:
            n = int(v, 10)  # type: ignore[arg-type]
        except ValueError:
            pass
    elif t is float and v.is_integer():  # type: ignore[union-attr]
        n = int(v)  # type: ignore[arg-type]
    if n is None:
        raise RecordError(where, f"{short(v)} is not an integer")
    if not -(1 << 63) <= n < (1 << 64):
        raise RecordError(where, f"{short(v)} is out of the 64-bit integer range")
    return n


def json_double(v: object, where: str) -> float:
    """A double as OTLP/JSON writes it: a number, or "NaN"/"Infinity"/"-Infinity"."""
    t = type(v)
    if t is float or t is int:
        return float(v)  # type: ignore[arg-type]
    if t is str:
        special = _SPECIAL_DOUBLES.get(v)  # type: ignore[arg-type]
        if special is not None:
            return special
        try:
            return float(v)  # type: ignore[arg-type]
        except ValueError:
            pass
    raise RecordError(where, f"{short(v)} is not a number")


def describe(v: object) -> str:
    """How a JSON value is named in a reason: its type."""
    if v is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(v), type(v).__name__)


def short(v: object) -> str:
    """A value quoted in a reason, cut so one reason stays one line."""
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."
