"""Line formats: detection and field extraction.

Each reader turns one line into a `Parsed` (or None when the line is not in its format);
`detect_and_parse` tries them in the order that makes detection unambiguous.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import orjson

from pipeline.ingest.logs import severity
from pipeline.ingest.logs.timestamps import find_timestamp, parse_epoch, parse_timestamp
from pipeline.ingest.logs.traceids import extract_ids, normalize_span_id, normalize_trace_id

FORMATS = ("auto", "text", "json", "logfmt", "syslog", "container")


@dataclass(slots=True)
class Parsed:
    """What parsing found in one line; empty values mean 'not found'."""

    format: str
    message: str
    time_ns: int = 0
    severity_number: int = 0
    severity_text: str = ""
    service: str = ""
    host: str = ""
    trace_id: str = ""
    span_id: str = ""
    attributes: dict[str, str] = field(default_factory=dict)


# Keys (after flattening nested objects with dots) that carry the well-known fields, in
# order of preference.
_TIME_KEYS = ("timestamp", "time", "@timestamp", "ts", "datetime", "date", "t", "eventTime",
              "timeUnixNano", "time_unix_nano")
_LEVEL_KEYS = ("level", "severity", "log.level", "lvl", "loglevel", "levelname", "level_name",
               "severity_text", "severityText", "SeverityText", "@l", "priority")
_MESSAGE_KEYS = ("message", "msg", "log", "body", "@m", "@mt", "text", "event")
_SERVICE_KEYS = ("service", "service.name", "service_name", "serviceName", "app", "application",
                 "app.name", "component")
_HOST_KEYS = ("host", "hostname", "host.name", "host.hostname", "node", "nodename")
_TRACE_KEYS = ("trace_id", "traceId", "traceid", "traceID", "trace.id", "dd.trace_id",
               "trace", "TraceId", "logging.googleapis.com/trace")
_SPAN_KEYS = ("span_id", "spanId", "spanid", "spanID", "span.id", "dd.span_id", "SpanId",
              "logging.googleapis.com/spanId")


def to_str(value: object) -> str:
    """Attribute values are strings: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _flatten(obj: dict, prefix: str, out: dict[str, object]) -> None:
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            _flatten(v, key + ".", out)
        else:
            out[key] = v


# key -> (role, preference rank); lower rank wins when a line has several keys for a role.
_ROLE_OF: dict[str, tuple[str, int]] = {}
for _role, _keys in (("time", _TIME_KEYS), ("level", _LEVEL_KEYS), ("message", _MESSAGE_KEYS),
                     ("service", _SERVICE_KEYS), ("host", _HOST_KEYS), ("trace", _TRACE_KEYS),
                     ("span", _SPAN_KEYS)):
    for _rank, _key in enumerate(_keys):
        _ROLE_OF.setdefault(_key, (_role, _rank))


def _take_roles(fields: dict[str, object]) -> dict[str, object]:
    """Pop the preferred key of each well-known role; one pass over the line's keys."""
    best: dict[str, tuple[int, str]] = {}
    for k in fields:
        hit = _ROLE_OF.get(k)
        if hit is not None:
            role, rank = hit
            cur = best.get(role)
            if cur is None or rank < cur[0]:
                best[role] = (rank, k)
    return {role: fields.pop(k) for role, (_, k) in best.items()}


def _from_fields(fmt: str, fields: dict[str, object], default_tz: str, ref_ns: int) -> Parsed:
    """Map well-known keys onto fields; the rest become attributes."""
    p = Parsed(format=fmt, message="")
    roles = _take_roles(fields)
    msg = roles.get("message")
    p.message = "" if msg is None else to_str(msg)
    t = roles.get("time")
    if t is not None:
        if isinstance(t, (int, float)) or (isinstance(t, str) and t.strip().replace(".", "", 1).isdigit()):
            p.time_ns = parse_epoch(t) or 0
        elif isinstance(t, str):
            p.time_ns = parse_timestamp(t, default_tz, ref_ns) or 0
        if not p.time_ns:
            fields["time"] = t  # unreadable: keep it rather than lose it
    lvl = roles.get("level")
    if lvl is not None:
        p.severity_number = severity.from_value(lvl)
        if p.severity_number:
            p.severity_text = severity.severity_name(p.severity_number)
        else:
            fields["level"] = lvl
    svc = roles.get("service")
    if svc is not None:
        p.service = to_str(svc)
    host = roles.get("host")
    if host is not None:
        p.host = to_str(host)
    tid = roles.get("trace")
    if isinstance(tid, str):
        # GCP writes projects/<p>/traces/<id>.
        p.trace_id = normalize_trace_id(tid.rsplit("/", 1)[-1])
        if not p.trace_id:
            fields["trace_id"] = tid
    sid = roles.get("span")
    if isinstance(sid, str):
        p.span_id = normalize_span_id(sid)
        if not p.span_id:
            fields["span_id"] = sid
    if not p.trace_id and fields:
        # traceparent / X-B3-TraceId style keys: read them as "key=value" text.
        for k, v in fields.items():
            if isinstance(v, str) and ("trace" in k or "Trace" in k or "TRACE" in k):
                p.trace_id, span = extract_ids(f"{k}={v}")
                if p.trace_id:
                    p.span_id = p.span_id or span
                    break
    p.attributes = {k: v if isinstance(v, str) else to_str(v) for k, v in fields.items()}
    return p


def parse_json(line: str, default_tz: str, ref_ns: int) -> Parsed | None:
    """A JSON object per line (zap, logrus, pino, bunyan, structlog, ECS, …)."""
    s = line.strip()
    if not (s.startswith("{") and s.endswith("}")):
        return None
    try:
        obj = orjson.loads(s)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    for v in obj.values():
        if isinstance(v, dict) and v:
            fields: dict[str, object] = {}
            _flatten(obj, "", fields)
            break
    else:
        fields = obj  # already flat (the usual line): it is freshly parsed, so it is ours to edit
    return _from_fields("json", fields, default_tz, ref_ns)


def parse_container(line: str, default_tz: str, ref_ns: int) -> tuple[str, Parsed] | None:
    """Docker json-file / CRI wrapper: returns (inner line, wrapper fields) or None."""
    s = line.strip()
    if not (s.startswith("{") and '"log"' in s):
        return None
    try:
        obj = orjson.loads(s)
    except orjson.JSONDecodeError:
        return None
    if not (isinstance(obj, dict) and isinstance(obj.get("log"), str)
            and ("stream" in obj or "time" in obj)):
        return None
    inner = obj.pop("log").rstrip("\r\n")
    fields: dict[str, object] = {}
    _flatten(obj, "", fields)
    wrapper = _from_fields("container", fields, default_tz, ref_ns)
    return inner, wrapper


# CRI (containerd / CRI-O) log files: "<RFC3339Nano> <stream> <P|F> <line>".
_CRI = re.compile(r"(\d{4}-\d{2}-\d{2}T\S+) (stdout|stderr) ([PF]) (.*)$", re.S)


def parse_cri(line: str, default_tz: str, ref_ns: int) -> tuple[str, Parsed] | None:
    """CRI runtime wrapper line: returns (inner line, wrapper fields) or None."""
    m = _CRI.match(line)
    if not m:
        return None
    wrapper = Parsed(format="container", message="")
    wrapper.time_ns = parse_timestamp(m.group(1), default_tz, ref_ns) or 0
    wrapper.attributes = {"stream": m.group(2)}
    if m.group(3) == "P":
        wrapper.attributes["log.partial"] = "true"
    return m.group(4), wrapper


# key=value, key="quoted \" value", key= (empty), bare key.
_LOGFMT_PAIR = re.compile(r'\s*([^\s="]+)(?:=("(?:[^"\\]|\\.)*"|[^\s"]*))?(?=\s|$)')


def parse_logfmt(line: str, default_tz: str, ref_ns: int) -> Parsed | None:
    """logfmt (`ts=… level=info msg="…"`); needs two or more key=value pairs to be believed."""
    if "=" not in line:
        return None
    fields: dict[str, object] = {}
    pos, n, pairs = 0, len(line.rstrip()), 0
    while pos < n:
        m = _LOGFMT_PAIR.match(line, pos)
        if not m or m.end() == pos:
            return None
        key, raw = m.group(1), m.group(2)
        if raw is None:
            fields[key] = "true"
        else:
            pairs += 1
            if raw.startswith('"'):
                try:
                    raw = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    raw = raw[1:-1]
            fields[key] = raw
        pos = m.end()
    if pairs < 2 or pairs * 2 < len(fields):
        return None
    return _from_fields("logfmt", fields, default_tz, ref_ns)


_RFC5424 = re.compile(
    r"<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: (.*))?$", re.S)
_SD_ELEMENT = re.compile(r'\[([^\s\]]+)((?:\s+[^\s=\]]+="(?:[^"\\]|\\.)*")*)\]')
_SD_PARAM = re.compile(r'([^\s=\]]+)="((?:[^"\\]|\\.)*)"')
_RFC3164 = re.compile(
    r"(?:<(\d{1,3})>)?([A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2}(?:\.\d+)?) (\S+) "
    r"([^\s:\[]+)(?:\[([^\]]*)\])?: ?(.*)$", re.S)


def parse_syslog(line: str, default_tz: str, ref_ns: int) -> Parsed | None:
    """RFC 5424, or RFC 3164 (BSD) with or without the <PRI> part."""
    m = _RFC5424.match(line)
    if m:
        pri = int(m.group(1))
        p = Parsed(format="syslog5424", message=(m.group(8) or "").removeprefix("\ufeff"))
        if m.group(2) != "-":
            p.time_ns = parse_timestamp(m.group(2), default_tz, ref_ns) or 0
        p.severity_number = severity.from_syslog(pri & 7)
        p.severity_text = severity.severity_name(p.severity_number)
        p.host = "" if m.group(3) == "-" else m.group(3)
        p.service = "" if m.group(4) == "-" else m.group(4)
        attrs = {"syslog.facility": str(pri >> 3)}
        if m.group(5) != "-":
            attrs["syslog.procid"] = m.group(5)
        if m.group(6) != "-":
            attrs["syslog.msgid"] = m.group(6)
        for sd in _SD_ELEMENT.finditer(m.group(7)):
            for pm in _SD_PARAM.finditer(sd.group(2)):
                attrs[f"{sd.group(1)}.{pm.group(1)}"] = re.sub(r'\\(["\\\]])', r"\1", pm.group(2))
        p.attributes = attrs
        return p
    m = _RFC3164.match(line)
    if not m:
        return None
    p = Parsed(format="syslog3164", message=m.group(6))
    p.time_ns = parse_timestamp(m.group(2), default_tz, ref_ns) or 0
    p.host, p.service = m.group(3), m.group(4)
    if m.group(1) is not None:
        pri = int(m.group(1))
        p.severity_number = severity.from_syslog(pri & 7)
        p.severity_text = severity.severity_name(p.severity_number)
        p.attributes["syslog.facility"] = str(pri >> 3)
    if m.group(5):
        p.attributes["syslog.procid"] = m.group(5)
    return p


# A free-text line's time stamp counts when it ends by this offset. This and TEXT_LEVEL_RE
# are shared with pipeline/ingest/logs/columns.py, which must find exactly what parse_text finds.
TEXT_TIME_MAX_END = 48
# Upper-case level words stand alone ("… ERROR [main] …"); lower-case ones only when
# bracketed ("[warn]"), so prose such as "no error found" is not read as a level.
TEXT_LEVEL_RE = re.compile(
    r"(?:^|[\s\[(<|])(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|FATAL|CRITICAL|CRIT|SEVERE|PANIC)"
    r"(?=[\]\s|:)>]|$)|[\[(<](trace|debug|info|notice|warn|warning|error|fatal|critical)[\])>]")
# klog / glog (Kubernetes components): "E0102 15:04:05.123456   12345 file.go:42] message".
_KLOG = re.compile(r"([IWEF])(\d{2})(\d{2}) (\d{2}:\d{2}:\d{2}\.\d{1,9})\s+(\d+) ([^\s\]]+)\] ?(.*)$", re.S)
_KLOG_LEVEL = {"I": 9, "W": 13, "E": 17, "F": 21}


def parse_klog(line: str, default_tz: str, ref_ns: int) -> Parsed | None:
    """klog/glog header lines; the year comes from the reference time, as in syslog."""
    m = _KLOG.match(line)
    if not m:
        return None
    month = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    mo = int(m.group(2))
    if not 1 <= mo <= 12:
        return None
    p = Parsed(format="klog", message=m.group(7))
    p.time_ns = parse_timestamp(f"{month[mo - 1]} {int(m.group(3))} {m.group(4)}", default_tz, ref_ns) or 0
    p.severity_number = _KLOG_LEVEL[m.group(1)]
    p.severity_text = severity.severity_name(p.severity_number)
    p.attributes = {"thread.id": m.group(5), "code.location": m.group(6)}
    return p


def parse_text(line: str, default_tz: str, ref_ns: int) -> Parsed:
    """Free text: the whole line stays the message; a leading time stamp and a level word
    near the start are picked up when present."""
    p = Parsed(format="text", message=line)
    ns, end = find_timestamp(line, default_tz, ref_ns)
    if ns is not None and end <= TEXT_TIME_MAX_END:
        p.time_ns = ns
    m = TEXT_LEVEL_RE.search(line, 0, 80)
    if m:
        p.severity_number = severity.from_name(m.group(1) or m.group(2))
        p.severity_text = severity.severity_name(p.severity_number)
    return p
