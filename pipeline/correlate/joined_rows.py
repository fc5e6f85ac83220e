"""Turn one completed trace (spans, logs, host offsets) into correlated rows.

Pure function of its inputs, so the same trace content always gives the same rows; the
engine decides when a trace is complete and which offsets apply.
"""

from __future__ import annotations

from operator import attrgetter

from pipeline.column_batch import ColumnBatch
from pipeline.correlate.engine_config import CorrelateConfig
from pipeline.correlate.metric_index import MetricIndex
from pipeline.model import STATUS_ERROR, CorrelatedSpan, LogRecord, Span

# OTel severity numbers in bands of four: 1-4 trace ... 17-20 error, 21-24 fatal.
_SEVERITY_BANDS = ("trace", "debug", "info", "warn", "error", "fatal")
_BAND_OF = ("",) + tuple(b for b in _SEVERITY_BANDS for _ in range(4))  # indexed by number 1-24
_SEVERITY_WORDS = {
    "trace": "trace", "debug": "debug", "info": "info", "information": "info", "notice": "info",
    "warn": "warn", "warning": "warn", "error": "error", "err": "error", "critical": "fatal",
    "crit": "fatal", "fatal": "fatal", "alert": "fatal", "emerg": "fatal", "emergency": "fatal",
    "panic": "fatal",
}
_HTTP_STATUS_KEYS = ("http.response.status_code", "http.status_code")
# Where OTel semantic conventions (old and new) name the other end of an outgoing call.
_PEER_KEYS = ("peer.service", "server.address", "net.peer.name", "db.system", "messaging.system")
_SERVER_SIDE = (2, 5)  # server and consumer spans describe work done here, not a call out
_CLIENT, _PRODUCER, _CONSUMER = 3, 4, 5
_NONE: dict[str, list[LogRecord]] = {}  # a trace without logs attaches none


def peer_of(span: Span) -> str:
    """The service an outgoing call goes to; "" for spans that serve a request."""
    if span.kind in _SERVER_SIDE or not span.attributes:
        return ""
    for k in _PEER_KEYS:
        v = span.attributes.get(k)
        if v:
            return v
    return ""


def pod_of(resource: dict[str, str] | None) -> str:
    """The Kubernetes pod, the instance of a service that sets no service.instance.id."""
    return resource.get("k8s.pod.name", "") if resource else ""


def call_peers(spans: dict[str, Span]) -> dict[str, str]:
    """span id -> the service it calls, for every call out in one trace.

    A span with a client/producer kind or a peer attribute names its callee (`peer_of`). A
    span with no kind at all (many real services set none) whose child runs in another
    service is that service's client: the child is the callee's server span, and the gap
    between the two is the call's network time. Spans with a kind are never inferred, so
    instrumented data gives the same rows as before. Where one kindless span has children in
    several services, the first name in sorted order is taken, so arrival order never matters.
    """
    out = {sid: peer_of(s) if s.attributes and s.kind not in _SERVER_SIDE else "" for sid, s in spans.items()}
    inferred: dict[str, str] = {}
    get = spans.get
    for s in spans.values():
        parent = get(s.parent_span_id) if s.parent_span_id else None
        if parent is None or parent.kind or out[parent.span_id] or not s.service or s.service == parent.service:
            continue
        known = inferred.get(parent.span_id)
        if known is None or s.service < known:
            inferred[parent.span_id] = s.service
    out.update(inferred)
    return out


def severity_name(log: LogRecord) -> str:
    """The severity band of a log, from its number or, failing that, its text."""
    n = log.severity_number
    return _BAND_OF[n] if 0 < n < 25 else _SEVERITY_WORDS.get(log.severity_text.lower(), "unspecified")


def log_clock(log: LogRecord, offsets: dict[str, int]) -> int:
    """A log's skew-corrected time.

    A log without its own timestamp only has the collector's observed time, which is on the
    reference clock and so is not shifted by the host's offset.
    """
    if log.time_ns:
        return log.time_ns - offsets.get(log.host, 0)
    return log.observed_ns


def _http_error(span: Span) -> bool:
    for k in _HTTP_STATUS_KEYS:
        v = span.attributes.get(k)
        if v:
            try:
                return int(v) >= 500
            except ValueError:
                return False
    return False


def _union_ns(intervals: list[tuple[int, int]]) -> int:
    intervals.sort()
    total, cur_s, cur_e = 0, None, None
    for s, e in intervals:
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        elif e > cur_e:
            cur_e = e
    if cur_e is not None:
        total += cur_e - cur_s
    return total


def _inside_parent(child: Span, parent: Span, offsets: dict[str, int], calls_out: bool) -> tuple[int, int]:
    """A remote child's corrected interval, nudged inside its parent when it pokes out.

    A synchronous call's server span lies within the client span that made it; when the two
    hosts' offset estimates are a little off (drifting clocks, a fresh estimate), the corrected
    child overhangs the call or misses it entirely, and would count as the caller's own time.
    Consumers of a message, children of a producer and children longer than their parent are
    left where they are, and so is a child outside a parent that is not a call out (async work).
    """
    coff, poff = offsets.get(child.host, 0), offsets.get(parent.host, 0)
    a, b = child.start_ns - coff, child.end_ns - coff
    start, end = parent.start_ns - poff, parent.end_ns - poff
    if child.kind == _CONSUMER or parent.kind == _PRODUCER or b - a > end - start:
        return a, b
    if (b <= start or a >= end) and parent.kind != _CLIENT and not calls_out:
        return a, b  # not a call out: a child outside may really run after its parent
    if a < start:
        return start, b + (start - a)
    if b > end:
        return a - (b - end), end
    return a, b


def _log_order(log: LogRecord) -> tuple[int, str]:
    return log.time_ns or log.observed_ns, log.id


def attach_logs(spans: dict[str, Span], logs: list[LogRecord], offsets: dict[str, int],
                window_ns: int, bounds: dict[str, tuple[int, int, int]] | None = None,
                ) -> tuple[dict[str, list[LogRecord]], int]:
    """Map span_id -> attached logs (by time, then id), and the count that matched no span.

    A log naming its span joins it when it lies in the span's window; one without a span id
    joins a span whose window holds it, preferring its own service, then spans whose interval
    itself holds the log, then the innermost (shortest). `bounds` (span id -> offset,
    corrected start, corrected end) saves recomputing what the caller already has.
    """
    if bounds is None:
        bounds = _bounds(spans, offsets)
    out: dict[str, list[LogRecord]] = {}
    miss = 0
    get_off = offsets.get
    windows: list[tuple[int, int, int, str, str]] | None = None  # built on first span-less log
    for log in sorted(logs, key=_log_order) if len(logs) > 1 else logs:
        t = log.time_ns - get_off(log.host, 0) if log.time_ns else log.observed_ns
        sid = log.span_id
        if sid:
            b = bounds.get(sid)
            if b is not None and b[1] - window_ns <= t <= b[2] + window_ns:
                lst = out.get(sid)
                if lst is None:
                    out[sid] = [log]
                else:
                    lst.append(log)
            else:
                miss += 1
            continue
        if windows is None:
            windows = [(b[1], b[2], s.end_ns - s.start_ns, s.service, s.span_id)
                       for s, b in zip(spans.values(), bounds.values())]
        best = None
        service = log.service
        for lo, hi, dur, svc, wsid in windows:
            if lo - window_ns <= t <= hi + window_ns:
                # own service first, then spans really holding the log, then the innermost
                key = (svc != service if service else False, not lo <= t <= hi, dur, wsid)
                if best is None or key < best:
                    best = key
        if best is None:
            miss += 1
        else:
            lst = out.get(best[3])
            if lst is None:
                out[best[3]] = [log]
            else:
                lst.append(log)
    return out, miss


def _bounds(spans: dict[str, Span], offsets: dict[str, int]) -> dict[str, tuple[int, int, int]]:
    """span id -> (its host's offset, corrected start, corrected end)."""
    get_off = offsets.get
    out = {}
    for sid, s in spans.items():
        off = get_off(s.host, 0)
        out[sid] = (off, s.start_ns - off, s.end_ns - off)
    return out


def _self_times(spans: dict[str, Span], bounds: dict[str, tuple[int, int, int]],
                offsets: dict[str, int], peers: dict[str, str]) -> dict[str, int]:
    """span id -> time not covered by any of its children (corrected, clipped to the span)."""
    children: dict[str, list[tuple[int, int]]] = {}
    get = spans.get
    for sid, s in spans.items():
        pid = s.parent_span_id
        parent = get(pid)
        if parent is not None:
            if s.host != parent.host:
                ab = _inside_parent(s, parent, offsets, bool(peers.get(pid)))
            else:  # one clock: no correction can make them disagree
                ab = bounds[sid][1:]
            lst = children.get(pid)
            if lst is None:
                children[pid] = [ab]
            else:
                lst.append(ab)
    out = {}
    for pid, kids in children.items():
        _, start, end = bounds[pid]
        if len(kids) == 1:
            a, b = kids[0]
            covered = (b if b < end else end) - (a if a > start else start) if b > start and a < end else 0
        else:
            covered = _union_ns([(max(a, start), min(b, end)) for a, b in kids if b > start and a < end])
        out[pid] = max(0, end - start - covered)
    return out


# Span fields copied into a row as they are, read one C call per span (attrgetter).
_COPIED = ("trace_id", "span_id", "parent_span_id", "name", "service", "host", "kind", "start_ns", "end_ns",
           "status_code", "status_message")
_COPIED_TO = ("trace_id", "span_id", "parent_span_id", "name", "service", "host", "kind", "orig_start_ns", "orig_end_ns",
              "status_code", "status_message")
_read_copied = attrgetter(*_COPIED)


def build_rows(spans: dict[str, Span], logs: list[LogRecord], offsets: dict[str, int],
               metrics: MetricIndex, config: CorrelateConfig, trace_id: str,
               stats: dict[str, int], provenance: tuple[bool, bool, int, int]) -> list[CorrelatedSpan]:
    """Correlated rows for every span of one trace, as `CorrelatedSpan` records (the API's and
    the tests' form; the engine appends the same rows as columns with `build_columns`)."""
    out = ColumnBatch(CorrelatedSpan)
    build_columns(spans, logs, offsets, metrics, config, trace_id, stats, provenance, out)
    return out.records()


def build_columns(spans: dict[str, Span], logs: list[LogRecord], offsets: dict[str, int],
                  metrics: MetricIndex, config: CorrelateConfig, trace_id: str,
                  stats: dict[str, int], provenance: tuple[bool, bool, int, int],
                  out: ColumnBatch) -> tuple[bool, int]:
    """Append a correlated row for every span of one trace to `out` (a ColumnBatch of
    CorrelatedSpan): the store's insert columns, with no object per row (issue 19).

    `offsets` covers at least every host of the trace; `stats` gets join hit/miss counts
    added; `provenance` is (completed_early, late_amend, version, trace_complete_ns). Returns
    whether any row is an error and the longest corrected duration, which sampling needs.
    Rows without logs or readings share one empty container per column kind; readers treat
    the columns as read-only.
    """
    early, amend, version, complete_ns = provenance
    bounds = _bounds(spans, offsets)
    if logs:
        attached, log_miss = attach_logs(spans, logs, offsets, config.log_window_ns, bounds)
        get_attached = attached.get
    else:
        log_miss, get_attached = 0, _NONE.get
    peers = call_peers(spans)
    self_times = _self_times(spans, bounds, offsets, peers)
    exemplars = metrics.exemplars(trace_id)
    series_for = metrics.series_for
    readings = metrics.readings
    cols = out.cols
    n0 = len(cols["span_id"])
    span_list = list(spans.values())
    n = len(span_list)
    for name, values in zip(_COPIED_TO, zip(*map(_read_copied, span_list))):
        cols[name].extend(values)
    c_instance, c_start, c_end, c_off = cols["instance"], cols["start_ns"], cols["end_ns"], cols["clock_offset_ns"]
    c_dur, c_self, c_err, c_sources = cols["duration_ns"], cols["self_time_ns"], cols["is_error"], cols["error_sources"]
    c_count, c_sev, c_rules, c_errors = cols["log_count"], cols["log_severity_counts"], cols["rule_ids"], cols["error_logs"]
    c_ids, c_vals, c_zs, c_peer = cols["log_ids"], cols["metrics"], cols["metric_z"], cols["peer"]
    c_version = cols["service_version"]
    no_list: list = []
    no_dict: dict = {}
    hit = mhit = mmiss = 0
    any_error = False
    longest = 0
    max_err = config.max_error_logs
    cut = config.excerpt_chars
    failing_parents = set()
    for s, (sid, (off, start, end)) in zip(span_list, bounds.items()):
        dur = end - start
        if dur > longest:
            longest = dur
        self_ns = self_times.get(sid)
        c_self.append(dur if self_ns is None else self_ns)
        c_instance.append(s.instance or pod_of(s.resource))
        c_start.append(start)
        c_end.append(end)
        c_off.append(off)
        c_dur.append(dur)
        sources = None
        if s.status_code == STATUS_ERROR:
            sources = ["status"]
        if s.events and any(ev.get("name") == "exception" for ev in s.events):
            if sources is None:
                sources = ["exception"]
            else:
                sources.append("exception")
        if s.attributes and _http_error(s):
            if sources is None:
                sources = ["http"]
            else:
                sources.append("http")
        slogs = get_attached(sid)
        if slogs:
            sev: dict[str, int] = {}
            rules: set[str] = set()
            errors: list[dict] = []
            for lg in slogs:
                band = severity_name(lg)
                sev[band] = sev.get(band, 0) + 1
                if lg.rules:
                    rules.update(lg.rules)
                if (band == "error" or band == "fatal") and len(errors) < max_err:
                    errors.append({"id": lg.id, "time_ns": log_clock(lg, offsets), "body": lg.body[:cut]})
            hit += len(slogs)
            if errors:
                if sources is None:
                    sources = ["log"]
                else:
                    sources.append("log")
            c_count.append(len(slogs))
            c_sev.append(sev)
            c_rules.append(sorted(rules) if rules else no_list)
            c_errors.append(errors if errors else no_list)
            c_ids.append([lg.id for lg in slogs])
        else:
            c_count.append(0)
            c_sev.append(no_dict)
            c_rules.append(no_list)
            c_errors.append(no_list)
            c_ids.append(no_list)
        series = series_for(s.service, s.instance, s.host)
        if series:
            vals, zs = readings(series, start, end, offsets)
        else:
            vals = zs = no_dict
        if exemplars:
            for ex_sid, label, value in exemplars:
                if ex_sid == sid or (not ex_sid and s.parent_span_id not in spans):
                    if vals is no_dict:
                        vals = {}
                    vals[label] = value
        if vals:
            mhit += 1
        elif series:
            mmiss += 1
        c_vals.append(vals)
        c_zs.append(zs)
        if sources is None:
            c_err.append(False)
            c_sources.append(no_list)
        else:
            any_error = True
            failing_parents.add(s.parent_span_id)
            if len(sources) > 1:
                sources.sort()
            c_err.append(True)
            c_sources.append(sources)
        c_peer.append(peers[sid])
        c_version.append(s.resource.get("service.version", "") if s.resource else "")
    c_own = cols["own_error"]
    if any_error:
        c_own.extend([e and sid not in failing_parents
                      for e, sid in zip(c_err[n0:], cols["span_id"][n0:])])
    else:
        c_own.extend([False] * n)
    cols["completed_early"].extend([early] * n)
    cols["late_amend"].extend([amend] * n)
    cols["version"].extend([version] * n)
    cols["trace_complete_ns"].extend([complete_ns] * n)
    stats["log_join_hit"] += hit
    stats["log_join_miss"] += log_miss
    stats["metric_join_hit"] += mhit
    stats["metric_join_miss"] += mmiss
    return any_error, longest
