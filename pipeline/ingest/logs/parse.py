"""Parse log bodies in place: format detection, field extraction, producer fields win.

Works on a ColumnBatch of LogRecord's columns (the ingest hot path) or on a list of records."""

from __future__ import annotations

from pipeline.column_batch import ColumnBatch
from pipeline.ingest.decode.timebounds import OUT_OF_RANGE_ATTR, in_range
from pipeline.ingest.logs import detect, severity
from pipeline.ingest.logs.formats import (FORMATS, Parsed, parse_container, parse_cri, parse_json, parse_klog,
                                          parse_logfmt, parse_syslog, parse_text)
from pipeline.ingest.logs.textblock import buffer_of
from pipeline.model import LogRecord


def _auto(line: str, tz: str, ref: int) -> tuple[Parsed, bool]:
    """Detect the format from the line's shape; (parsed, failed)."""
    s = line.lstrip()
    first = s[:1]
    if first == "{":
        wrapped = parse_container(s, tz, ref)
        if wrapped is not None:
            inner_line, wrapper = wrapped
            inner, failed = _auto(inner_line, tz, ref)
            return _merge_wrapper(wrapper, inner), failed
        p = parse_json(s, tz, ref)
        if p is not None:
            return p, False
        return parse_text(line, tz, ref), True
    if first.isdigit() and s[4:5] == "-" and (" stdout " in s[:48] or " stderr " in s[:48]):
        wrapped = parse_cri(s, tz, ref)
        if wrapped is not None:
            inner, failed = _auto(wrapped[0], tz, ref)
            return _merge_wrapper(wrapped[1], inner), failed
    if first and first in "IWEF" and s[1:5].isdigit():
        p = parse_klog(s, tz, ref)
        if p is not None:
            return p, False
    if first == "<" and s[1:2].isdigit():
        p = parse_syslog(s, tz, ref)
        return (p, False) if p is not None else (parse_text(line, tz, ref), True)
    if first.isupper() and s[3:4] == " " and s[:3].isalpha():
        p = parse_syslog(s, tz, ref)
        if p is not None:
            return p, False
    if "=" in s:
        p = parse_logfmt(s, tz, ref)
        if p is not None:
            return p, False
    return parse_text(line, tz, ref), False


_QUARTER_HOUR_NS = 15 * 60 * 10**9
_RUNTIME_LAG_NS = 2 * 10**9  # the runtime reads a line this soon after the app stamps it, at most
_MAX_ZONE_GAP_NS = 26 * 3600 * 10**9  # UTC-12 .. UTC+14


def _zone_off(diff_ns: int) -> bool:
    """Whether an app stamp this far from the runtime's is a local time read in the wrong zone:
    off by whole quarter hours (give or take the runtime's lag), never more than a day."""
    d = abs(diff_ns)
    if d < _QUARTER_HOUR_NS - _RUNTIME_LAG_NS or d > _MAX_ZONE_GAP_NS:
        return False
    r = d % _QUARTER_HOUR_NS
    return r <= _RUNTIME_LAG_NS or r >= _QUARTER_HOUR_NS - _RUNTIME_LAG_NS


def _merge_wrapper(wrapper: Parsed, inner: Parsed) -> Parsed:
    """The inner line's own fields first; the wrapper (runtime time, stream) fills gaps."""
    inner.format = "container/" + inner.format
    if not inner.time_ns or (wrapper.time_ns and _zone_off(inner.time_ns - wrapper.time_ns)):
        # The runtime stamps in UTC; an app line stamped in local time without a zone, read in
        # another zone than its own, lands whole quarter hours off: the runtime's stamp is the time.
        inner.time_ns = wrapper.time_ns
    if not inner.severity_number:
        inner.severity_number, inner.severity_text = wrapper.severity_number, wrapper.severity_text
    inner.service = inner.service or wrapper.service
    inner.host = inner.host or wrapper.host
    if not inner.trace_id:
        inner.trace_id, inner.span_id = wrapper.trace_id, inner.span_id or wrapper.span_id
    for k, v in wrapper.attributes.items():
        inner.attributes.setdefault(k, v)
    return inner


def _explicit(fmt: str, line: str, tz: str, ref: int) -> tuple[Parsed, bool]:
    if fmt == "text":
        return parse_text(line, tz, ref), False
    if fmt == "container":
        wrapped = parse_container(line, tz, ref) or parse_cri(line, tz, ref)
        if wrapped is None:
            return parse_text(line, tz, ref), True
        inner, failed = _auto(wrapped[0], tz, ref)
        return _merge_wrapper(wrapped[1], inner), failed
    reader = {"json": parse_json, "logfmt": parse_logfmt, "syslog": parse_syslog}[fmt]
    p = reader(line, tz, ref)
    return (p, False) if p is not None else (parse_text(line, tz, ref), True)


def parse_line(line: str, fmt: str = "auto", default_tz: str = "UTC",
               reference_ns: int = 0) -> tuple[Parsed, bool]:
    """Parse one line; (fields found, parse_failed). Failed lines come back as free text."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "auto":
        return _auto(line, default_tz, reference_ns)
    return _explicit(fmt, line, default_tz, reference_ns)


# The columns parsing may change (attributes are changed in place, inside their dicts).
_PARSED = ("time_ns", "body", "severity_number", "severity_text", "trace_id", "span_id", "service", "host",
           "format", "parse_failed")


def parse_logs(logs: ColumnBatch | list[LogRecord], fmt: str = "auto", default_tz: str = "UTC") -> None:
    """Parse every log's body into its fields, in place: on the columns of a ColumnBatch (the
    ingest hot path, no record built), or on a list of records (read into columns and
    written back, so both take the one implementation below).

    Values the producer already set (non-empty, non-zero) are kept; parsing fills the rest.
    A record whose time is still its Kafka observation time takes the time from its text.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if type(logs) is ColumnBatch:
        _parse_columns(logs.cols, fmt, default_tz)
        return
    batch = ColumnBatch.of(LogRecord, logs)
    _parse_columns(batch.cols, fmt, default_tz)
    for name in _PARSED:
        for rec, value in zip(logs, batch.cols[name]):
            setattr(rec, name, value)


# The columns _apply reads or sets, in the order it unpacks them (bound once per batch).
_APPLY_COLUMNS = ("format", "parse_failed", "body", "time_ns", "observed_ns", "attributes", "severity_number",
                  "severity_text", "service", "host", "trace_id", "span_id")


def _parse_columns(cols: dict[str, list], fmt: str, default_tz: str) -> None:
    need_ids: list[int] = []
    messages: list[str] = []
    times, observed = cols["time_ns"], cols["observed_ns"]
    bound = tuple(cols[n] for n in _APPLY_COLUMNS)
    for i, body in enumerate(cols["body"]):
        if not isinstance(body, str) or not body:
            continue
        p, failed = parse_line(body, fmt, default_tz, observed[i] or times[i])
        if _apply(bound, i, p, failed):
            need_ids.append(i)
            messages.append(p.message)
    if messages:
        # Ids named only in the text: found for the whole batch in one scan.
        traces, spans = detect.trace_ids(buffer_of(messages), messages)
        trace_col, span_col = cols["trace_id"], cols["span_id"]
        for i, trace, span in zip(need_ids, traces, spans):
            if trace:
                trace_col[i] = trace
                span_col[i] = span_col[i] or span


def _apply(bound: tuple, i: int, p: Parsed, failed: bool) -> bool:
    """Set log i's fields from the parse (`bound`: the columns named by _APPLY_COLUMNS); True
    when its trace id is still to be read from the message text (the caller does that for
    the whole batch)."""
    formats, failures, bodies, times, observed, attributes, numbers, texts, services, hosts, traces, spans = bound
    formats[i] = p.format
    failures[i] = failed
    if p.format != "text" and p.message:
        # Structured lines keep only their message as the body; one without a message
        # field keeps its whole line, so text search still sees it.
        bodies[i] = p.message
    time_ns = times[i]
    if p.time_ns and (not time_ns or time_ns == observed[i]):
        if in_range(p.time_ns):
            times[i] = p.time_ns
        else:  # a guess from the text, not a field: keep the Kafka time, say what was read
            attributes[i][OUT_OF_RANGE_ATTR] = str(p.time_ns)
    number, text = numbers[i], texts[i]
    if not number and not text:
        numbers[i], texts[i] = p.severity_number, p.severity_text
    elif not number:
        numbers[i] = severity.from_name(text)
    elif not text:
        texts[i] = severity.severity_name(number)
    services[i] = services[i] or p.service
    hosts[i] = hosts[i] or p.host
    if p.attributes:
        attrs = attributes[i]
        for k, v in p.attributes.items():
            if k not in attrs:
                attrs[k] = v
    if traces[i]:
        return False
    if p.trace_id:
        traces[i] = p.trace_id
        spans[i] = spans[i] or p.span_id
        return False
    return True
