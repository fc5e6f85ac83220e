"""Walking a decoded OTLP/JSON export request (resource → scope → records) with paths for error reasons."""

from __future__ import annotations

from collections.abc import Iterator

from pipeline.ingest.decode.jsonfields import get, items, obj
from pipeline.ingest.decode.records import Resource
from pipeline.ingest.decode.result import RecordError
from pipeline.ingest.decode.values import json_attrs


def walk(doc: dict, levels: tuple[tuple[str, str], ...], errors: list[str]) -> Iterator[tuple[dict, Resource, str]]:
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
            res = Resource(json_attrs(resource.get("attributes"), "resource.attributes"))
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
