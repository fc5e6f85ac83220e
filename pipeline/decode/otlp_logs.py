"""Log records from OTLP ExportLogsServiceRequest, protobuf or OTLP/JSON."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.decode import enums
from pipeline.decode.jsonfields import enum, get, ns, string
from pipeline.decode.otlp_schema import LOGS_REQUEST
from pipeline.decode.otlp_walk import AttrsFn, proto_attrs, walk
from pipeline.decode.records import LogIds
from pipeline.decode.result import RecordError
from pipeline.decode.values import json_any, json_attrs, to_text
from pipeline.decode.wire import parse
from pipeline.model import LogRecord

_LEVELS = (("resourceLogs", "resource_logs"), ("scopeLogs", "scope_logs"), ("logRecords", "log_records"))


def logs_from_proto(buf: bytes, kafka_ns: int, errors: list[str]) -> list[LogRecord]:
    """Every good log of one protobuf request (MessageError if the message is unreadable)."""
    return _logs(parse(buf, 0, len(buf), LOGS_REQUEST), kafka_ns, errors, proto_attrs, to_text)


def logs_from_json(doc: dict, kafka_ns: int, errors: list[str]) -> list[LogRecord]:
    """Every good log of one decoded OTLP/JSON request."""
    return _logs(doc, kafka_ns, errors, json_attrs, _json_body)


def _json_body(v: object) -> str:
    return "" if v is None else to_text(json_any(v, "body"))


def _logs(doc: dict, kafka_ns: int, errors: list[str], attrs: AttrsFn,
          body: Callable[[object], str]) -> list[LogRecord]:
    out: list[LogRecord] = []
    ids = LogIds()
    for rec, res, path in walk(doc, _LEVELS, attrs, errors):
        try:
            out.append(ids.make(
                ns(get(rec, "timeUnixNano", "time_unix_nano"), "timeUnixNano"),
                ns(get(rec, "observedTimeUnixNano", "observed_time_unix_nano"), "observedTimeUnixNano"),
                kafka_ns,
                enum(get(rec, "severityNumber", "severity_number"), enums.SEVERITY_NUMBER, "severityNumber"),
                string(get(rec, "severityText", "severity_text"), "severityText"),
                body(rec.get("body")),
                get(rec, "traceId", "trace_id"),
                get(rec, "spanId", "span_id"),
                attrs(rec.get("attributes"), "attributes"),
                res,
            ))
        except RecordError as exc:
            errors.append(exc.at(path))
    return out
