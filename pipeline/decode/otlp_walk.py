"""Walking an OTLP export request (resource → scope → records) with paths for error reasons.

`walk` serves OTLP/JSON and protobuf parsed by wire.parse, since both arrive as dicts with
the OTLP/JSON names; only the attribute conversion differs (a list of key/values in JSON, an
already converted dict from protobuf). `proto_walk` serves the signals whose records are read
straight from the bytes (spans, logs): it yields where each record lies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from pipeline.decode.jsonfields import get, items, obj
from pipeline.decode.otlp_schema import RESOURCE
from pipeline.decode.records import Resource
from pipeline.decode.result import RecordError
from pipeline.decode.wire import parse, submessages

AttrsFn = Callable[[object, str], dict[str, str]]


def proto_attrs(v: object, field: str) -> dict[str, str]:
    """Attributes from wire.parse: already a dict of strings (or absent)."""
    return v if v is not None else {}  # type: ignore[return-value]


def walk(doc: dict, levels: tuple[tuple[str, str], ...], attrs: AttrsFn,
         errors: list[str]) -> Iterator[tuple[dict, Resource, str]]:
    """Yield (record, resource, path) for every record; unusable levels become errors.

    `levels` names the three lists as (camelCase, snake_case) pairs, e.g.
    ("resourceSpans", "resource_spans"), ("scopeSpans", "scope_spans"), ("spans", "spans").
    """
    (top, top_s), (scope, scope_s), (rec, rec_s) = levels
    for i, rs in enumerate(items(get(doc, top, top_s), top)):
        path = f"{top}[{i}]"
        try:
            rs = obj(rs, "")
            resource = obj(rs.get("resource"), "resource")
            res = Resource(attrs(resource.get("attributes"), "resource.attributes"))
            scopes = items(get(rs, scope, scope_s), scope)
        except RecordError as exc:
            errors.append(exc.at(path))
            continue
        for j, ss in enumerate(scopes):
            spath = f"{path}.{scope}[{j}]"
            try:
                records = items(get(obj(ss, ""), rec, rec_s), rec)
            except RecordError as exc:
                errors.append(exc.at(spath))
                continue
            for k, r in enumerate(records):
                if type(r) is not dict:
                    errors.append(f"{spath}.{rec}[{k}]: is not an object")
                    continue
                yield r, res, f"{spath}.{rec}[{k}]"


def proto_walk(buf: bytes) -> Iterator[tuple[int, int, Resource, int, int, int]]:
    """Yield (start, end, resource, i, j, k) for every record of a protobuf export request.

    All three requests share the layout: field 1 the resource list; in each, field 1 the
    Resource and field 2 the scope list; in each scope, field 2 the records. i, j, k are the
    record's indexes at the three levels, for error paths.
    """
    for i, (r_pos, r_end) in enumerate(submessages(buf, 0, len(buf), 1)):
        res = None
        for p, q in submessages(buf, r_pos, r_end, 1):
            res = Resource(parse(buf, p, q, RESOURCE).get("attributes") or {})
        if res is None:
            res = Resource({})
        for j, (s_pos, s_end) in enumerate(submessages(buf, r_pos, r_end, 2)):
            for k, (p, q) in enumerate(submessages(buf, s_pos, s_end, 2)):
                yield p, q, res, i, j, k
