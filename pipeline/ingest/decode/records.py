"""Building model records from decoded fields: the checks, and the deterministic ids.

Every decoder (OTLP protobuf, OTLP/JSON, flat JSON lines, raw text) ends here, so the rules
are the same whatever the encoding.

Ids (the delivery rule: a replay of the same input must give the same ids, so idempotent
writes collapse it):

* Span: trace_id + span_id (`Span.id`).
* Log: `content_id` over what was received — service, instance, host, trace_id, span_id,
  time_ns as the producer gave it (0 when it gave none), severity number and text, body, the
  attributes sorted by key — plus an occurrence counter among identical records of the same
  Kafka message, so two identical records in one message keep two ids while the same message
  replayed gets the same two again. Raw text lines carry no time of their own, so their
  Kafka message timestamp takes that place: the same line in two messages (a repeated
  "connection refused") stays two rows, while a replayed message keeps its Kafka timestamp
  and so its ids.
* Metric point: `content_id` over name, type, service, instance, host, the point's
  attributes sorted, the resource attributes sorted, start_time_ns and time_ns.

Record checks: a span needs a 16-byte trace id and an 8-byte span id, neither all zero, a
start time, an end not before its start, every time in the plausible range (timebounds.py), a kind in 0..5 and a status code in 0..2. A log
with a malformed trace or span id is kept with that id '' and the bad value in attribute
`telecorr.invalid_trace_id` / `telecorr.invalid_span_id` (an all-zero id just means "none").
A metric point needs a time and finite numbers: NaN/±inf in a value, sum or exemplar is a
record error, except summary quantile values, where NaN is what Prometheus reports for an
empty window; those quantiles are left out and the point is kept. A gauge or sum point
without a value (e.g. flagged "no recorded value", a staleness marker) is a record error
rather than a made-up zero. A non-finite histogram min or max is stored as absent (None)
rather than losing the point.
"""

from __future__ import annotations

import math
import re

from pipeline.column_batch import ColumnBatch
from pipeline.ingest.decode.result import RecordError
from pipeline.ingest.decode.timebounds import MIN_TIME_NS, check_time, max_time_ns
from pipeline.ingest.decode.values import ATTR_LIMIT, BODY_LIMIT, SHORT_TEXT, describe, short, truncate
from pipeline.model import Exemplar, Span, content_id, text_id_hash

ZERO_TRACE = "0" * 32
ZERO_SPAN = "0" * 16
INVALID_TRACE_ATTR = "telecorr.invalid_trace_id"
INVALID_SPAN_ATTR = "telecorr.invalid_span_id"

is_hex = re.compile(r"[0-9a-fA-F]*").fullmatch
_is_base64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}").fullmatch


class Resource:
    """The resource a batch of records shares: identity fields and the full attributes.

    `attributes` is the same dict object on every record of the resource: treat it as
    read-only (copy before changing it).
    """

    __slots__ = ("service", "instance", "host", "attributes", "_sorted", "_point_key")

    def __init__(self, attributes: dict[str, str]) -> None:
        self.attributes = attributes
        self.service = attributes.get("service.name", "")
        # Kubernetes workloads often set no instance id: the pod is the instance there.
        self.instance = attributes.get("service.instance.id") or attributes.get("k8s.pod.name", "")
        self.host = attributes.get("host.name") or attributes.get("k8s.pod.name", "")
        self._sorted: tuple | None = None
        self._point_key: tuple[str, str] | None = None

    def sorted_items(self) -> tuple:
        if self._sorted is None:
            self._sorted = tuple(sorted(self.attributes.items()))
        return self._sorted

    def point_key(self) -> tuple[str, str]:
        """The resource's two stretches of a point id's text (see point_id), built once."""
        if self._point_key is None:
            self._point_key = ("".join(repr(x) + "\x1f" for x in (self.service, self.instance, self.host)),
                               repr(self.sorted_items()) + "\x1f")
        return self._point_key


def bad_id_reason(value: str, nbytes: int) -> str:
    """Why a textual id is not `nbytes` bytes of hex, in words a producer can act on."""
    if is_hex(value):
        if len(value) % 2:
            return f"{len(value)} hex digits, expected {2 * nbytes}"
        return f"{len(value) // 2} bytes, expected {nbytes}"
    b64_len = 4 * ((nbytes + 2) // 3)  # 24 characters for 16 bytes, 12 for 8, padding included
    unpadded = len(value.rstrip("="))
    looks_b64 = len(value) <= b64_len and unpadded >= b64_len - 2 and _is_base64(value) is not None
    hint = " (looks like base64; OTLP/JSON ids are hex)" if looks_b64 else ""
    return f"{short(value)} is not hex{hint}"


def text_id(value: object, field: str, nbytes: int) -> str:
    """A hex id from JSON: lowercase, '' when absent; RecordError when malformed."""
    if value is None or value == "":
        return ""
    if type(value) is not str:
        raise RecordError(field, f"is {describe(value)}, expected a hex string")
    if len(value) != 2 * nbytes or not is_hex(value):
        raise RecordError(field, bad_id_reason(value, nbytes))
    return value.lower()


def _check_id(value: str, field: str, nbytes: int, zero: str) -> None:
    if len(value) != 2 * nbytes:
        raise RecordError(field, "missing" if not value else f"{len(value) // 2} bytes, expected {nbytes}")
    if value == zero:
        raise RecordError(field, "all zero (invalid)")


def make_span(trace_id: str, span_id: str, parent_span_id: str, name: str, start_ns: int, end_ns: int,
              kind: int, status_code: int, status_message: str, attributes: dict[str, str],
              events: list[dict], res: Resource) -> Span:
    """A checked Span; ids are lowercase hex of any length here and checked for size."""
    if (len(trace_id) != 32 or len(span_id) != 16 or trace_id == ZERO_TRACE or span_id == ZERO_SPAN
            or (parent_span_id and (len(parent_span_id) != 16 or parent_span_id == ZERO_SPAN))
            or start_ns <= 0 or end_ns < start_ns or not 0 <= kind <= 5 or not 0 <= status_code <= 2):
        parent_span_id = _span_problem(trace_id, span_id, parent_span_id, start_ns, end_ns, kind, status_code)
    if not MIN_TIME_NS <= start_ns <= end_ns <= max_time_ns():
        check_time(start_ns, "startTimeUnixNano")
        check_time(end_ns, "endTimeUnixNano")
    for n, ev in enumerate(events):
        if ev["time_ns"]:
            check_time(ev["time_ns"], f"events[{n}].timeUnixNano")
    if len(name) > SHORT_TEXT:
        name = truncate(name, ATTR_LIMIT)
    return Span(trace_id, span_id, parent_span_id, name, start_ns, end_ns, kind, status_code,
                status_message, res.service, res.instance, res.host, attributes, res.attributes, events)


def _span_problem(trace_id: str, span_id: str, parent_span_id: str, start_ns: int, end_ns: int,
                  kind: int, status_code: int) -> str:
    """Raise the RecordError for what is wrong, or return the parent id ('' if all zero)."""
    _check_id(trace_id, "traceId", 16, ZERO_TRACE)
    _check_id(span_id, "spanId", 8, ZERO_SPAN)
    if parent_span_id and len(parent_span_id) != 16:
        raise RecordError("parentSpanId", f"{len(parent_span_id) // 2} bytes, expected 8")
    if start_ns <= 0:
        raise RecordError("startTimeUnixNano", "missing")
    if end_ns < start_ns:
        raise RecordError("endTimeUnixNano", f"{end_ns} is before the start {start_ns}")
    if not 0 <= kind <= 5:
        raise RecordError("kind", f"{kind} is not a span kind (0..5)")
    if not 0 <= status_code <= 2:
        raise RecordError("status.code", f"{status_code} is not a status code (0..2)")
    return "" if parent_span_id == ZERO_SPAN else parent_span_id


def log_id_value(value: object, nbytes: int, zero: str) -> tuple[str, str | None]:
    """(id, None) for a good or absent log id, ('', the bad value as text) for a malformed one."""
    if value is None or value == "":
        return "", None
    if type(value) is str and len(value) == 2 * nbytes and is_hex(value):
        value = value.lower()
        return ("" if value == zero else value), None
    return "", value if type(value) is str else repr(value)


class LogIds:
    """Deterministic log ids for one Kafka message (see the module docstring)."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[tuple, int] = {}

    def row(self, time_given: int, observed_ns: int, fallback_ns: int, severity_number: int,
            severity_text: str, body: str, trace_id: object, span_id: object,
            attributes: dict[str, str], res: Resource) -> tuple:
        """A checked log's field values in LogRecord's field order (kafka_ns 0, filled per
        message later): what the decoders append to the logs' columns, no record built. A
        malformed trace/span id is moved into an attribute."""
        tid, bad = log_id_value(trace_id, 16, ZERO_TRACE)
        if bad is not None:
            attributes[INVALID_TRACE_ATTR] = truncate(bad, 1024)
        sid, bad = log_id_value(span_id, 8, ZERO_SPAN)
        if bad is not None:
            attributes[INVALID_SPAN_ATTR] = truncate(bad, 1024)
        if not 0 <= severity_number <= 24:
            raise RecordError("severityNumber", f"{severity_number} is not a severity number (0..24)")
        # The Kafka timestamp standing in for a time the producer did not give is not checked.
        if time_given and time_given != fallback_ns:
            check_time(time_given, "timeUnixNano")
        if observed_ns and observed_ns != fallback_ns:
            check_time(observed_ns, "observedTimeUnixNano")
        body = truncate(body, BODY_LIMIT)
        if len(severity_text) > SHORT_TEXT:
            severity_text = truncate(severity_text, ATTR_LIMIT)
        key = (res.service, res.instance, res.host, tid, sid, time_given, severity_number,
               severity_text, body, tuple(sorted(attributes.items())))
        n = self._seen.get(key, 0)
        self._seen[key] = n + 1
        observed = observed_ns or fallback_ns
        return (time_given or observed, body, severity_number, severity_text, tid, sid, res.service,
                res.instance, res.host, attributes, res.attributes, observed, "", False, [],
                content_id(*key, n), "", "", 0)


def log_rows_into(out: ColumnBatch, rows: list[tuple]) -> None:
    """Append rows made by `LogIds.row` (or `point_row`) to a ColumnBatch of LogRecord (of
    MetricPoint), a column at a time."""
    if rows:
        for col, values in zip(out.cols.values(), zip(*rows)):
            col.extend(values)


def finite(x: float, field: str) -> float:
    if not math.isfinite(x):
        raise RecordError(field, f"{x} is not a finite number")
    return x


def make_exemplar(time_ns: int, value: float, trace_id: str, span_id: str, field: str) -> Exemplar:
    """An exemplar with a finite value; its ids were checked by text_id ('' when absent)."""
    finite(value, field + ".value")
    return Exemplar(time_ns=time_ns, value=value, trace_id=trace_id, span_id=span_id)


# A histogram's, exponential histogram's or summary's own fields, in MetricPoint's field order
# from `count` to `quantiles`: what the decoders' fill functions return.
Shape = tuple


def plain_shape() -> Shape:
    """The shape fields of a gauge or sum point (fresh lists: no two records share one)."""
    return 0, 0.0, None, None, [], [], 0, 0, 0, [], 0, [], []


def point_row(name: str, mtype: str, time_ns: int, value: float, start_time_ns: int, unit: str,
              attributes: dict[str, str], is_monotonic: bool, temporality: int, shape: Shape,
              exemplars: list[Exemplar], res: Resource) -> tuple:
    """A checked point's field values in MetricPoint's field order, resource identity and id
    included: what the decoders append to the points' columns, no record built."""
    if time_ns <= 0:
        raise RecordError("timeUnixNano", "missing")
    check_time(time_ns, "timeUnixNano")
    if start_time_ns:
        check_time(start_time_ns, "startTimeUnixNano")
    for n, e in enumerate(exemplars):
        if e.time_ns:
            check_time(e.time_ns, f"exemplars[{n}].timeUnixNano")
    finite(value, "value")
    low, high = shape[2], shape[3]
    if (low is not None and not math.isfinite(low)) or (high is not None and not math.isfinite(high)):
        shape = (*shape[:2], low if low is None or math.isfinite(low) else None,
                 high if high is None or math.isfinite(high) else None, *shape[4:])
    return (name, mtype, time_ns, value, start_time_ns, unit, res.service, res.instance, res.host, attributes,
            res.attributes, is_monotonic, temporality, *shape, exemplars,
            point_id(name, mtype, attributes, start_time_ns, time_ns, res))


def point_id(name: str, mtype: str, attributes: dict[str, str], start_time_ns: int, time_ns: int,
             res: Resource) -> str:
    """content_id(name, type, service, instance, host, sorted attributes, sorted resource
    attributes, start, time), the same text hashed, with the resource's part of it built once
    per resource rather than once per point."""
    ident, items = res.point_key()
    return text_id_hash(f"{name!r}\x1f{mtype!r}\x1f{ident}{tuple(sorted(attributes.items()))!r}\x1f{items}"
                        f"{start_time_ns!r}\x1f{time_ns!r}\x1f")

