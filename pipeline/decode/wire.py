"""Reading the protobuf wire format by hand, for the OTLP messages telecorr decodes.

Why not the generated classes: with the upb backend, touching each field from Python costs
more than reading the bytes here, and reading them here lets a problem be reported by field
and record instead of failing the whole message. Messages are described by small field
tables (see otlp_schema.py) and read into dicts shaped like OTLP/JSON, so the JSON and
protobuf paths share one walker per signal.
"""

from __future__ import annotations

import struct

from pipeline.decode.result import MessageError
from pipeline.decode.values import MAX_NESTING, attr_text

# Field kinds in a table.
MSG, LIST, STR, HEX, ATTRS, UINT, SINT, BOOL, FIX64, SFIX64, DOUBLE, \
    PACKED_FIX64, PACKED_DOUBLE, PACKED_UINT = range(14)

_u64 = struct.Struct("<Q").unpack_from
_i64 = struct.Struct("<q").unpack_from
_f64 = struct.Struct("<d").unpack_from


class Table:
    """The fields of one protobuf message: number -> (JSON name, kind, sub-table)."""

    __slots__ = ("name", "fields")

    def __init__(self, name: str, fields: dict[int, tuple]) -> None:
        self.name = name
        self.fields = {n: (f[0], f[1], f[2] if len(f) > 2 else None) for n, f in fields.items()}


def varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """(value, next position) of the varint at `pos`; never reads past `end`."""
    result = 0
    shift = 0
    while pos < end:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise MessageError("protobuf: varint longer than 10 bytes")
    raise MessageError("protobuf: truncated varint")


def utf8(buf: bytes, pos: int, end: int, where: str) -> str:
    try:
        return buf[pos:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MessageError(f"protobuf: invalid UTF-8 in {where} at byte {pos + exc.start}") from None


def _wire_error(table: Table, key: str, wt: int) -> MessageError:
    return MessageError(f"protobuf: {table.name}.{key} has wire type {wt}, which does not fit its type")


def parse(buf: bytes, pos: int, end: int, table: Table) -> dict:
    """Read the message in buf[pos:end] into a dict keyed by the table's JSON names.

    Repeated messages become lists, attributes a dict of strings, ids lowercase hex, enums
    and integers ints, and unknown fields are skipped as protobuf requires.
    """
    out: dict = {}
    fields = table.fields
    while pos < end:
        tag = buf[pos]
        pos += 1
        if tag > 0x7F:
            tag, pos = varint(buf, pos - 1, end)
        wt = tag & 7
        spec = fields.get(tag >> 3)
        if wt == 2:
            ln = buf[pos] if pos < end else 0x80
            pos += 1
            if ln > 0x7F:
                ln, pos = varint(buf, pos - 1, end)
            nxt = pos + ln
            if nxt > end:
                raise MessageError(f"protobuf: {table.name} field {tag >> 3} runs past the end of its message (truncated?)")
            if spec is not None:
                key, kind, sub = spec
                if kind == LIST:
                    lst = out.get(key)
                    if lst is None:
                        lst = out[key] = []
                    lst.append(parse(buf, pos, nxt, sub))
                elif kind == ATTRS:
                    attrs = out.get(key)
                    if attrs is None:
                        attrs = out[key] = {}
                    k, v = keyvalue(buf[pos:nxt])
                    attrs[k] = v
                elif kind == STR:
                    out[key] = utf8(buf, pos, nxt, f"{table.name}.{key}")
                elif kind == HEX:
                    out[key] = buf[pos:nxt].hex()
                elif kind == MSG:
                    out[key] = parse(buf, pos, nxt, sub)
                elif kind == PACKED_FIX64 or kind == PACKED_DOUBLE:
                    if ln % 8:
                        raise MessageError(f"protobuf: {table.name}.{key}: packed length {ln} is not a multiple of 8")
                    fmt = "<%d%s" % (ln // 8, "Q" if kind == PACKED_FIX64 else "d")
                    out.setdefault(key, []).extend(struct.unpack_from(fmt, buf, pos))
                elif kind == PACKED_UINT:
                    lst = out.setdefault(key, [])
                    p = pos
                    while p < nxt:
                        v, p = varint(buf, p, nxt)
                        lst.append(v)
                else:
                    raise _wire_error(table, key, wt)
            pos = nxt
        elif wt == 0:
            v = buf[pos] if pos < end else 0x80
            pos += 1
            if v > 0x7F:
                v, pos = varint(buf, pos - 1, end)
            if spec is not None:
                key, kind, _ = spec
                if kind == UINT:
                    out[key] = v
                elif kind == SINT:
                    out[key] = (v >> 1) ^ -(v & 1)
                elif kind == BOOL:
                    out[key] = v != 0
                elif kind == PACKED_UINT:
                    out.setdefault(key, []).append(v)
                else:
                    raise _wire_error(table, key, wt)
        elif wt == 1:
            if pos + 8 > end:
                raise MessageError(f"protobuf: {table.name} field {tag >> 3} is cut short (truncated?)")
            if spec is not None:
                key, kind, _ = spec
                if kind == FIX64:
                    out[key] = _u64(buf, pos)[0]
                elif kind == DOUBLE:
                    out[key] = _f64(buf, pos)[0]
                elif kind == SFIX64:
                    out[key] = _i64(buf, pos)[0]
                elif kind == PACKED_FIX64:
                    out.setdefault(key, []).append(_u64(buf, pos)[0])
                elif kind == PACKED_DOUBLE:
                    out.setdefault(key, []).append(_f64(buf, pos)[0])
                else:
                    raise _wire_error(table, key, wt)
            pos += 8
        elif wt == 5:
            if pos + 4 > end:
                raise MessageError(f"protobuf: {table.name} field {tag >> 3} is cut short (truncated?)")
            if spec is not None:  # no field read through a table is a fixed32
                raise _wire_error(table, spec[0], wt)
            pos += 4
        else:
            raise MessageError(f"protobuf: {table.name} field {tag >> 3} uses wire type {wt} (groups or garbage)")
    return out


def any_value(buf: bytes, pos: int, end: int, depth: int) -> object:
    """An AnyValue as a plain Python value (str, bool, int, float, bytes, list, dict, None)."""
    if depth > MAX_NESTING:
        raise MessageError(f"protobuf: AnyValue nested deeper than {MAX_NESTING} levels")
    value: object = None
    while pos < end:
        tag = buf[pos]
        pos += 1
        if tag > 0x7F:
            tag, pos = varint(buf, pos - 1, end)
        fn, wt = tag >> 3, tag & 7
        if wt == 2:
            ln, pos = varint(buf, pos, end)
            nxt = pos + ln
            if nxt > end:
                raise MessageError("protobuf: AnyValue runs past the end of its message (truncated?)")
            if fn == 1:
                value = utf8(buf, pos, nxt, "AnyValue.stringValue")
            elif fn == 7:
                value = buf[pos:nxt]
            elif fn == 5:  # ArrayValue: repeated AnyValue values = 1
                value = [any_value(buf, p, q, depth + 1) for p, q in submessages(buf, pos, nxt, 1)]
            elif fn == 6:  # KeyValueList: repeated KeyValue values = 1
                value = {}
                for p, q in submessages(buf, pos, nxt, 1):
                    k, v = _keyvalue_raw(buf, p, q, depth + 1)
                    value[k] = v
            pos = nxt
        elif wt == 0:
            v, pos = varint(buf, pos, end)
            if fn == 2:
                value = v != 0
            elif fn == 3:
                value = v - (1 << 64) if v >= 1 << 63 else v
        elif wt == 1:
            if pos + 8 > end:
                raise MessageError("protobuf: AnyValue is cut short (truncated?)")
            if fn == 4:
                value = _f64(buf, pos)[0]
            pos += 8
        elif wt == 5:
            pos += 4
            if pos > end:
                raise MessageError("protobuf: AnyValue is cut short (truncated?)")
        else:
            raise MessageError(f"protobuf: AnyValue field {fn} uses wire type {wt} (groups or garbage)")
    return value


def submessages(buf: bytes, pos: int, end: int, want: int) -> list[tuple[int, int]]:
    """(start, end) of every length-delimited field numbered `want` in buf[pos:end]."""
    out = []
    while pos < end:
        tag, pos = varint(buf, pos, end)
        wt = tag & 7
        if wt == 2:
            ln, pos = varint(buf, pos, end)
            if pos + ln > end:
                raise MessageError("protobuf: nested value runs past the end of its message (truncated?)")
            if tag >> 3 == want:
                out.append((pos, pos + ln))
            pos += ln
        elif wt == 0:
            _, pos = varint(buf, pos, end)
        elif wt == 1 or wt == 5:
            pos += 8 if wt == 1 else 4
            if pos > end:
                raise MessageError("protobuf: nested value is cut short (truncated?)")
        else:
            raise MessageError(f"protobuf: field {tag >> 3} uses wire type {wt} (groups or garbage)")
    return out


def _keyvalue_raw(buf: bytes, pos: int, end: int, depth: int) -> tuple[str, object]:
    key = ""
    value: object = None
    while pos < end:
        tag, pos = varint(buf, pos, end)
        wt = tag & 7
        if wt == 2:
            ln, pos = varint(buf, pos, end)
            nxt = pos + ln
            if nxt > end:
                raise MessageError("protobuf: KeyValue runs past the end of its message (truncated?)")
            if tag >> 3 == 1:
                key = utf8(buf, pos, nxt, "KeyValue.key")
            elif tag >> 3 == 2:
                value = any_value(buf, pos, nxt, depth)
            pos = nxt
        elif wt == 0:
            _, pos = varint(buf, pos, end)
        elif wt == 1 or wt == 5:
            pos += 8 if wt == 1 else 4
            if pos > end:
                raise MessageError("protobuf: KeyValue is cut short (truncated?)")
        else:
            raise MessageError(f"protobuf: KeyValue field {tag >> 3} uses wire type {wt} (groups or garbage)")
    return key, value


KV_CACHE: dict[bytes, tuple[str, str]] = {}
_KV_CACHE_MAX = 50_000  # entries, each at most _KV_CACHED_BYTES long: a few tens of MB at worst
_KV_CACHED_BYTES = 160


def keyvalue(raw: bytes) -> tuple[str, str]:
    """(key, stored string) of one encoded KeyValue, memoised on its bytes when short.

    The same attribute (same key, same value) recurs across most records of a batch, so
    remembering the bytes skips re-reading it; the cache is simply cleared when it fills up.
    """
    hit = KV_CACHE.get(raw)
    if hit is not None:
        return hit
    n = len(raw)
    # Fast paths for the usual shapes: a short key with a short string value or an int value.
    if n > 4 and raw[0] == 0x0A and raw[1] < 0x80:
        k = 2 + raw[1]
        if k + 2 < n and raw[k] == 0x12 and raw[k + 1] == n - k - 2:
            t = raw[k + 2]
            try:
                if t == 0x0A and k + 3 < n and raw[k + 3] == n - k - 4:
                    hit = (raw[2:k].decode(), raw[k + 4:].decode())
                elif t == 0x18:
                    v, p = varint(raw, k + 3, n)
                    if p == n:
                        hit = (raw[2:k].decode(), str(v - (1 << 64) if v >= 1 << 63 else v))
            except UnicodeDecodeError:
                hit = None  # the general reader below reports it properly
    if hit is None:
        key, value = _keyvalue_raw(raw, 0, n, 0)
        hit = (key, attr_text(value))
    if n <= _KV_CACHED_BYTES:
        if len(KV_CACHE) >= _KV_CACHE_MAX:
            KV_CACHE.clear()
        KV_CACHE[raw] = hit
    return hit
