"""One OTLP Kafka message to records: detect JSON or protobuf, then decode the signal.

The OpenTelemetry Collector's Kafka exporter writes either encoding; a message is OTLP/JSON
when its first non-blank byte is `{`, protobuf otherwise.
"""

from __future__ import annotations

import re

import orjson

from pipeline.decode.jsonfields import get
from pipeline.decode.otlp_logs import logs_from_json, logs_from_proto
from pipeline.decode.otlp_metrics import metrics_from_json, metrics_from_proto
from pipeline.decode.otlp_traces import spans_from_json, spans_from_proto
from pipeline.decode.result import DecodeResult, MessageError, RecordError
from pipeline.decode.values import describe
from pipeline.decode.wire import submessages

_looks_json = re.compile(rb"\s*\{").match

# kind -> (top-level JSON key, its snake_case form, what the request is called)
TOP_LEVEL = {
    "otlp_spans": ("resourceSpans", "resource_spans", "trace"),
    "otlp_logs": ("resourceLogs", "resource_logs", "logs"),
    "otlp_metrics": ("resourceMetrics", "resource_metrics", "metrics"),
}


def decode_otlp(kind: str, value: bytes, kafka_ns: int, out: DecodeResult, errors: list[str]) -> None:
    """Decode one message into `out`; record problems go to `errors`, MessageError if unreadable.

    Records are added only once the whole message has been read, so an unreadable message
    contributes nothing but its error.
    """
    if not value or value.isspace():
        raise MessageError("empty message")
    top, top_snake, what = TOP_LEVEL[kind]
    if _looks_json(value):
        try:
            doc = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise MessageError(f"invalid JSON: {exc}") from None
        if type(doc) is not dict:
            raise MessageError(f"OTLP/JSON request is {describe(doc)}, expected an object")
        if doc and get(doc, top, top_snake) is None:
            raise MessageError(f"no {top} in the JSON object (keys {sorted(doc)[:5]}): "
                               f"not an OTLP {what} export request?")
        try:
            if kind == "otlp_spans":
                out.spans.extend(spans_from_json(doc, errors))
            elif kind == "otlp_logs":
                out.logs.extend(logs_from_json(doc, kafka_ns, errors))
            else:
                out.metrics.extend(metrics_from_json(doc, errors))
        except RecordError as exc:  # the top-level list itself is malformed
            raise MessageError(exc.at("")) from None
        return
    if not submessages(value, 0, len(value), 1):
        raise MessageError(f"protobuf: no {top} in a {len(value)}-byte message: not an OTLP {what} export request?")
    if kind == "otlp_spans":
        out.spans.extend(spans_from_proto(value, errors))
    elif kind == "otlp_logs":
        out.logs.extend(logs_from_proto(value, kafka_ns, errors))
    else:
        out.metrics.extend(metrics_from_proto(value, errors))
