"""Parse log bodies in place: format detection, field extraction, producer fields win."""

from __future__ import annotations

from pipeline.ingest.decode.timebounds import OUT_OF_RANGE_ATTR, in_range
from pipeline.ingest.logs import severity
from pipeline.ingest.logs.formats import (FORMATS, Parsed, parse_container, parse_cri, parse_json, parse_klog,
                                          parse_logfmt, parse_syslog, parse_text)
from pipeline.ingest.logs.traceids import extract_ids
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


def parse_logs(logs: list[LogRecord], fmt: str = "auto", default_tz: str = "UTC") -> None:
    """Parse every record's body into its fields, in place.

    Values the producer already set (non-empty, non-zero) are kept; parsing fills the rest.
    A record whose time is still its Kafka observation time takes the time from its text.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; expected one of {', '.join(FORMATS)}")
    for rec in logs:
        body = rec.body
        if not isinstance(body, str) or not body:
            continue
        ref = rec.observed_ns or rec.time_ns
        p, failed = parse_line(body, fmt, default_tz, ref)
        _apply(rec, p, failed)


def _apply(rec: LogRecord, p: Parsed, failed: bool) -> None:
    rec.format = p.format
    rec.parse_failed = failed
    if p.format != "text" and p.message:
        # Structured lines keep only their message as the body; one without a message
        # field keeps its whole line, so text search still sees it.
        rec.body = p.message
    if p.time_ns and (not rec.time_ns or rec.time_ns == rec.observed_ns):
        if in_range(p.time_ns):
            rec.time_ns = p.time_ns
        else:  # a guess from the text, not a field: keep the Kafka time, say what was read
            rec.attributes[OUT_OF_RANGE_ATTR] = str(p.time_ns)
    if not rec.severity_number and not rec.severity_text:
        rec.severity_number, rec.severity_text = p.severity_number, p.severity_text
    elif not rec.severity_number:
        rec.severity_number = severity.from_name(rec.severity_text)
    elif not rec.severity_text:
        rec.severity_text = severity.severity_name(rec.severity_number)
    rec.service = rec.service or p.service
    rec.host = rec.host or p.host
    if not rec.trace_id:
        trace, span = p.trace_id, p.span_id
        if not trace:
            trace, span = extract_ids(p.message)
        if trace:
            rec.trace_id = trace
            rec.span_id = rec.span_id or span
    if p.attributes:
        attrs = rec.attributes
        for k, v in p.attributes.items():
            if k not in attrs:
                attrs[k] = v
