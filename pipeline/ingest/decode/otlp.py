"""One OTLP Kafka message to records: detect JSON or protobuf, then decode the signal.

A JSON message may hold one request (compact or pretty-printed), one per line (JSON lines),
or several back to back (pipeline/ingest/framing.py); gzip is undone before (decode/__init__.py).

The OpenTelemetry Collector's Kafka exporter writes either encoding; a message is OTLP/JSON
when its first non-blank byte is `{` (or `[`), protobuf otherwise. "Non-blank" is not quite
enough on its own: protobuf requests start with byte 0x0A, a newline, so one that fails as
JSON and starts with 0x0A is read again as protobuf.
"""

from __future__ import annotations

import re

from pipeline.ingest.decode.jsonfields import get
from pipeline.ingest.decode.otlp_logs import logs_from_json, logs_from_proto
from pipeline.ingest.decode.otlp_metrics import metrics_from_json, metrics_from_proto
from pipeline.ingest.decode.otlp_pb import parse_request
from pipeline.ingest.decode.otlp_traces import json_spans_into_columns, spans_into_columns
from pipeline.ingest.decode.records import log_rows_into
from pipeline.ingest.decode.result import DecodeResult, MessageError, RecordError
from pipeline.ingest.decode.values import describe
from pipeline.ingest.framing import JSONFramingError, json_documents

# `[` too, so a JSON array is reported as the wrong top-level type, not as garbled protobuf
# (a protobuf message cannot start with 0x5B: that is a group start, unused by OTLP).
_looks_json = re.compile(rb"\s*[{\[]").match

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
    if _looks_json(value):
        try:
            docs = json_documents(value)
        except JSONFramingError as exc:
            # A protobuf request starts with tag 0x0A ("\n"), and when its first
            # resource is 123 or 91 bytes long the next byte is "{" or "[": not JSON after all.
            if value[0] != 0x0A:
                raise MessageError(str(exc)) from None
            try:
                _decode_proto(kind, value, kafka_ns, out, errors)
            except MessageError as pb_exc:
                raise MessageError(f"neither JSON ({exc}) nor OTLP protobuf ({pb_exc})") from None
            return
        if len(docs) == 1:
            _decode_json(kind, docs[0][0], kafka_ns, out, errors)
            return
        # Several requests (JSON lines or back to back): each is read whole before any is kept.
        part = DecodeResult()
        for n, (doc, _) in enumerate(docs, 1):
            found: list[str] = []
            try:
                _decode_json(kind, doc, kafka_ns, part, found)
            except MessageError as exc:
                found.append(str(exc))
            errors.extend(f"request {n}: {e}" for e in found)
        out.spans += part.spans
        out.logs += part.logs
        out.metrics += part.metrics
        return
    _decode_proto(kind, value, kafka_ns, out, errors)


def _decode_json(kind: str, doc: object, kafka_ns: int, out: DecodeResult, errors: list[str]) -> None:
    top, top_snake, what = TOP_LEVEL[kind]
    if type(doc) is not dict:
        raise MessageError(f"OTLP/JSON request is {describe(doc)}, expected an object")
    if doc and get(doc, top, top_snake) is None:
        raise MessageError(f"no {top} in the JSON object (keys {sorted(doc)[:5]}): "
                           f"not an OTLP {what} export request?")
    try:
        if kind == "otlp_spans":
            json_spans_into_columns(doc, out.spans, errors)
        elif kind == "otlp_logs":
            log_rows_into(out.logs, logs_from_json(doc, kafka_ns, errors))
        else:
            log_rows_into(out.metrics, metrics_from_json(doc, errors))
    except RecordError as exc:  # the top-level list itself is malformed
        raise MessageError(exc.at("")) from None


def _decode_proto(kind: str, value: bytes, kafka_ns: int, out: DecodeResult, errors: list[str]) -> None:
    top, _, what = TOP_LEVEL[kind]
    req = parse_request(kind, value)
    if not req.ListFields():  # parsed, but holds only fields OTLP does not know: some other message
        raise MessageError(f"protobuf: no {top} in a {len(value)}-byte message: not an OTLP {what} export request?")
    if kind == "otlp_spans":
        spans_into_columns(req, out.spans, errors)  # type: ignore[arg-type]
    elif kind == "otlp_logs":
        log_rows_into(out.logs, logs_from_proto(req, kafka_ns, errors))  # type: ignore[arg-type]
    else:
        log_rows_into(out.metrics, metrics_from_proto(req, errors))  # type: ignore[arg-type]
