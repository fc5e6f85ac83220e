"""OTLP protobuf requests read with the generated opentelemetry-proto classes (upb backend).

The library parses the wire format and checks the UTF-8 of strings; what remains here is what
the records need from its message objects: a whole-message reason that says what failed, the
resource → scope → record walk with indexes for error paths, and AnyValues turned into the
stored strings (values.py) exactly as the OTLP/JSON path turns them, so both encodings of the
same data give the same records and ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from pipeline.ingest.decode.records import Resource
from pipeline.ingest.decode.result import MessageError, RecordError
from pipeline.ingest.decode.values import ATTR_LIMIT, MAX_NESTING, SHORT_TEXT, attr_text, truncate

REQUESTS: dict[str, type[Message]] = {"otlp_spans": ExportTraceServiceRequest,
                                      "otlp_logs": ExportLogsServiceRequest,
                                      "otlp_metrics": ExportMetricsServiceRequest}

# upb's DecodeError texts, in words that tell a producer what to look at.
_UPB_REASONS = {"Wire format was corrupt": "the wire format is corrupt (truncated, or not OTLP protobuf)",
                "String field had bad UTF-8": "a string field holds invalid UTF-8"}


def parse_request(kind: str, value: bytes) -> Message:
    """The export request of `kind` in `value`; MessageError naming the failure if unreadable."""
    cls = REQUESTS[kind]
    try:
        return cls.FromString(value)
    except DecodeError as exc:
        detail = str(exc).rpartition("': ")[2]  # drop upb's "Error parsing message with type '…'" prefix
        raise MessageError(f"protobuf: cannot read this {cls.DESCRIPTOR.name}: "
                           f"{_UPB_REASONS.get(detail, detail)}") from None


def any_value(v: AnyValue, where: str, depth: int = 0) -> object:
    """An AnyValue as a plain Python value (str, bool, int, float, bytes, list, dict, None)."""
    if depth > MAX_NESTING:
        raise RecordError(where, f"values nested deeper than {MAX_NESTING} levels")
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(x, where, depth + 1) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value, f"{where}[{kv.key!r}]", depth + 1) for kv in v.kvlist_value.values}
    return getattr(v, which)  # the scalar oneof members are named by WhichOneof


def attributes(kvs: Iterable[KeyValue], where: str) -> dict[str, str]:
    """Repeated KeyValue as a dict of stored strings; a later duplicate key wins, as in JSON.

    With upb, WhichOneof costs about ten times a field read, so the usual scalar members are
    probed first: in a oneof only the member that is set can be non-zero. Zero values, bytes,
    arrays and key-value lists take the general path.
    """
    out: dict[str, str] = {}
    for kv in kvs:
        v = kv.value
        s = v.string_value
        if s:
            out[kv.key] = s if len(s) <= SHORT_TEXT else truncate(s, ATTR_LIMIT)
            continue
        i = v.int_value
        if i:
            out[kv.key] = str(i)
            continue
        x = v.double_value
        if x:
            out[kv.key] = attr_text(x)
            continue
        if v.bool_value:
            out[kv.key] = "true"
            continue
        key = kv.key
        out[key] = attr_text(any_value(v, f"{where}[{key!r}]"))
    return out


def walk(resources: Iterable[Any], scopes: str, records: str, names: tuple[str, str, str],
         errors: list[str]) -> Iterator[tuple[Any, Resource, int, int, int]]:
    """Yield (record, resource, i, j, k) for every record of a request's resource list.

    `scopes`/`records` are the protobuf field names of the two inner lists (e.g. "scope_spans",
    "spans"); `names` their OTLP/JSON names for error paths. The resource is read once per
    resource entry; one whose attributes are unusable is an error and its records are skipped.
    """
    top, scope_name, _ = names
    for i, rs in enumerate(resources):
        try:
            res = Resource(attributes(rs.resource.attributes, "resource.attributes"))
        except RecordError as exc:
            errors.append(exc.at(f"{top}[{i}]"))
            continue
        for j, ss in enumerate(getattr(rs, scopes)):
            for k, rec in enumerate(getattr(ss, records)):
                yield rec, res, i, j, k


def record_path(names: tuple[str, str, str], i: int, j: int, k: int) -> str:
    """The OTLP/JSON-style path of record k of scope j of resource i, for error reasons."""
    return f"{names[0]}[{i}].{names[1]}[{j}].{names[2]}[{k}]"
