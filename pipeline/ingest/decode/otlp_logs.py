"""Logs from OTLP ExportLogsServiceRequest, protobuf (generated classes) or OTLP/JSON, as rows
for the logs' columns (records.log_rows_into): no LogRecord is built on the hot path."""

from __future__ import annotations

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from pipeline.ingest.decode import enums
from pipeline.ingest.decode.jsonfields import enum, get, ns, string
from pipeline.ingest.decode.otlp_pb import any_value, attributes, record_path, walk as pb_walk
from pipeline.ingest.decode.otlp_walk import walk
from pipeline.ingest.decode.records import LogIds
from pipeline.ingest.decode.result import RecordError
from pipeline.ingest.decode.values import json_any, json_attrs, to_text

_LEVELS = (("resourceLogs", "resource_logs"), ("scopeLogs", "scope_logs"), ("logRecords", "log_records"))
_NAMES = ("resourceLogs", "scopeLogs", "logRecords")


def logs_from_proto(req: ExportLogsServiceRequest, kafka_ns: int, errors: list[str]) -> list[tuple]:
    """Every good log of one parsed ExportLogsServiceRequest, as rows; bad ones add a reason to `errors`."""
    out: list[tuple] = []
    ids = LogIds()
    for r, res, i, j, k in pb_walk(req.resource_logs, "scope_logs", "log_records", _NAMES, errors):
        try:
            body = r.body
            kvs = r.attributes
            out.append(ids.row(
                r.time_unix_nano, r.observed_time_unix_nano, kafka_ns, r.severity_number, r.severity_text,
                # A non-empty string_value is the usual body; anything else (including an empty
                # string, which comes out "" either way) takes the general path.
                body.string_value or to_text(any_value(body, "body")),
                r.trace_id.hex(), r.span_id.hex(), attributes(kvs, "attributes") if kvs else {}, res))
        except RecordError as exc:
            errors.append(exc.at(record_path(_NAMES, i, j, k)))
    return out


def logs_from_json(doc: dict, kafka_ns: int, errors: list[str]) -> list[tuple]:
    """Every good log of one decoded OTLP/JSON request, as rows."""
    out: list[tuple] = []
    ids = LogIds()
    for rec, res, path in walk(doc, _LEVELS, errors):
        try:
            body = rec.get("body")
            out.append(ids.row(
                ns(get(rec, "timeUnixNano", "time_unix_nano"), "timeUnixNano"),
                ns(get(rec, "observedTimeUnixNano", "observed_time_unix_nano"), "observedTimeUnixNano"),
                kafka_ns,
                enum(get(rec, "severityNumber", "severity_number"), enums.SEVERITY_NUMBER, "severityNumber"),
                string(get(rec, "severityText", "severity_text"), "severityText"),
                "" if body is None else to_text(json_any(body, "body")),
                get(rec, "traceId", "trace_id"),
                get(rec, "spanId", "span_id"),
                json_attrs(rec.get("attributes"), "attributes"),
                res,
            ))
        except RecordError as exc:
            errors.append(exc.at(path))
    return out
