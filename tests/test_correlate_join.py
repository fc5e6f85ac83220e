"""Join rules of the correlation engine: log and metric windows, exemplars, row content."""

from __future__ import annotations

from pipeline.correlate import CorrelateConfig, Correlator
from pipeline.correlate.metric_index import Z_CAP
from pipeline.model import STATUS_ERROR, Exemplar, LogRecord, MetricPoint, Span

S = 1_000_000_000
MS = 1_000_000
T0 = 1_700_000_000 * S
TID = "ab" * 16


def span(sid: str, parent: str = "", start: int = 0, end: int = 100 * MS, host: str = "h1",
         service: str = "api", **kw) -> Span:
    return Span(trace_id=kw.pop("trace_id", TID), span_id=sid, parent_span_id=parent, name="op " + sid,
                start_ns=T0 + start, end_ns=T0 + end, service=service, instance=host, host=host, **kw)


def log(lid: str, t: int, span_id: str = "", host: str = "h1", service: str = "api", **kw) -> LogRecord:
    return LogRecord(time_ns=T0 + t if t is not None else 0, body="message " + lid, trace_id=kw.pop("trace_id", TID),
                     span_id=span_id, service=service, instance=host, host=host, id=lid, **kw)


def run(spans=(), logs=(), metrics=(), **cfg) -> dict[str, object]:
    eng = Correlator(CorrelateConfig(**cfg))
    eng.add(metrics=list(metrics))
    eng.add(list(spans), list(logs))
    return {r.span_id: r for r in eng.flush_all()}, eng


def test_log_window_edges_inclusive_one_second():
    spans = [span("s1", start=0, end=100 * MS)]
    logs = [log("in-early", -1 * S, "s1"), log("in-late", 100 * MS + S, "s1"),
            log("out-early", -1 * S - 1, "s1"), log("out-late", 100 * MS + S + 1, "s1")]
    rows, eng = run(spans, logs)
    assert rows["s1"].log_ids == ["in-early", "in-late"]
    c = eng.counters()
    assert c["log_join_hit"] == 2 and c["log_join_miss"] == 2


def test_spanless_log_joins_innermost_span_of_its_service():
    spans = [span("root", start=0, end=500 * MS), span("child", "root", start=100 * MS, end=200 * MS),
             span("other", "root", start=120 * MS, end=130 * MS, service="db", host="h2")]
    logs = [log("a", 125 * MS), log("b", 400 * MS), log("c", 125 * MS, service="db", host="h2")]
    rows, _ = run(spans, logs)
    assert rows["child"].log_ids == ["a"]
    assert rows["root"].log_ids == ["b"]
    assert rows["other"].log_ids == ["c"]


def test_log_naming_missing_span_is_a_miss_not_misattached():
    rows, eng = run([span("s1")], [log("x", 10 * MS, "nope")])
    assert rows["s1"].log_ids == []
    assert eng.counters()["log_join_miss"] == 1


def test_logs_without_trace_id_are_counted_not_joined():
    rows, eng = run([span("s1")], [log("x", 10 * MS, "s1", trace_id="")])
    assert rows["s1"].log_count == 0
    assert eng.counters()["logs_without_trace"] == 1


def test_row_content_errors_severities_rules_excerpts_self_time():
    root = span("root", start=0, end=1000 * MS)
    a = span("a", "root", start=100 * MS, end=400 * MS)
    b = span("b", "root", start=300 * MS, end=600 * MS)  # overlaps a: union is 500 ms
    c = span("c", "root", start=900 * MS, end=1200 * MS)  # outlives root: clipped to 100 ms
    d = span("d", "root", start=10 * MS, end=20 * MS, attributes={"http.response.status_code": "503"})
    e = span("e", "root", start=10 * MS, end=20 * MS, events=[{"name": "exception", "time_ns": T0, "attributes": {}}])
    f = span("f", "root", start=10 * MS, end=20 * MS, status_code=STATUS_ERROR, attributes={"http.status_code": "404"})
    logs = [log("l1", 50 * MS, "root", severity_number=9, rules=["r2"]),
            log("l2", 60 * MS, "root", severity_number=17, rules=["r1", "r2"]),
            log("l3", 70 * MS, "root", severity_text="FATAL"),
            log("l4", 80 * MS, "root", severity_text="ERROR"),
            log("l5", 90 * MS, "root", severity_number=18),
            log("l6", 95 * MS, "root")]
    rows, _ = run([root, a, b, c, d, e, f], logs, max_error_logs=3)
    r = rows["root"]
    assert r.self_time_ns == 1000 * MS - (500 + 100 + 10) * MS
    assert r.log_severity_counts == {"info": 1, "error": 3, "fatal": 1, "unspecified": 1}
    assert r.rule_ids == ["r1", "r2"]
    assert [x["id"] for x in r.error_logs] == ["l2", "l3", "l4"]
    assert r.error_logs[0] == {"id": "l2", "time_ns": T0 + 60 * MS, "body": "message l2"}
    assert r.is_error and r.error_sources == ["log"]
    assert rows["d"].error_sources == ["http"]
    assert rows["e"].error_sources == ["exception"]
    assert rows["f"].error_sources == ["status"]
    assert not rows["a"].is_error and rows["a"].self_time_ns == 300 * MS


def test_excerpt_is_cut_short():
    rows, _ = run([span("s1")], [LogRecord(time_ns=T0, body="x" * 500, severity_number=17, trace_id=TID,
                                           span_id="s1", host="h1", id="big")], excerpt_chars=40)
    assert rows["s1"].error_logs[0]["body"] == "x" * 40


def gauge(name: str, t: int, v: float, host: str = "h1", service: str = "api", **kw) -> MetricPoint:
    return MetricPoint(name=name, type="gauge", time_ns=T0 + t, value=v, service=service, instance=host,
                       host=host, **kw)


def test_metric_nearest_sample_within_window_ties_go_to_later():
    pts = [gauge("cpu", -3 * S, 1.0), gauge("cpu", -1500 * MS, 2.0), gauge("cpu", 1100 * MS, 3.0)]
    rows, _ = run([span("s1", start=0, end=100 * MS)], metrics=pts)
    assert rows["s1"].metrics == {"cpu": 3.0}  # 1.0 s after end beats 1.5 s before start
    pts2 = [gauge("cpu", -1 * S, 1.0), gauge("cpu", 1100 * MS, 2.0)]
    rows, _ = run([span("s1", start=0, end=100 * MS)], metrics=pts2)
    assert rows["s1"].metrics == {"cpu": 2.0}  # equal distance: the later sample


def test_metric_out_of_window_fine_series_does_not_join():
    pts = [gauge("cpu", -10 * S + i * S // 2, float(i)) for i in range(12)]  # ends at -4.5 s
    rows, eng = run([span("s1", start=0, end=100 * MS)], metrics=pts)
    assert rows["s1"].metrics == {}
    assert eng.counters()["metric_join_miss"] == 1


def test_coarse_series_joins_covering_sample():
    pts = [gauge("mem", -120 * S, 10.0), gauge("mem", -60 * S, 20.0), gauge("mem", -5 * S, 30.0),
           gauge("mem", 55 * S, 40.0)]
    rows, _ = run([span("s1", start=0, end=100 * MS)], metrics=pts)
    assert rows["s1"].metrics == {"mem": 30.0}


def test_metrics_of_other_hosts_or_services_do_not_join():
    pts = [gauge("cpu", 0, 1.0, host="h2"), gauge("cpu", 0, 2.0, service="db")]
    rows, _ = run([span("s1")], metrics=pts)
    assert rows["s1"].metrics == {}


def test_metric_z_score_against_preceding_samples():
    vals = [10.0, 12.0] * 10 + [31.0]
    pts = [gauge("cpu", (i - 20) * S, v) for i, v in enumerate(vals)]
    rows, _ = run([span("s1", start=0, end=100 * MS)], metrics=pts)
    base = vals[-1 - 30:-1][-30:]
    mean = sum(base) / len(base)
    sd = (sum((x - mean) ** 2 for x in base) / (len(base) - 1)) ** 0.5
    assert rows["s1"].metrics == {"cpu": 31.0}
    assert abs(rows["s1"].metric_z["cpu"] - (31.0 - mean) / sd) < 1e-9
    flat = [gauge("cpu", (i - 20) * S, 0.0) for i in range(20)] + [gauge("cpu", 0, 5.0)]
    rows, _ = run([span("s1", start=0, end=100 * MS)], metrics=flat)
    assert rows["s1"].metric_z["cpu"] == Z_CAP


def test_exemplar_joins_its_span_directly_and_wins():
    ex = MetricPoint(name="latency", type="histogram", time_ns=T0 + 500 * S, value=9.0, service="other",
                     exemplars=[Exemplar(time_ns=T0, value=0.25, trace_id=TID, span_id="s2")])
    rows, _ = run([span("s1", start=0, end=S), span("s2", "s1", start=10 * MS, end=20 * MS)], metrics=[ex])
    assert rows["s2"].metrics == {"latency": 0.25}
    assert rows["s1"].metrics == {}


def test_metric_attributes_make_separate_readings():
    pts = [gauge("cpu", 0, 1.0, attributes={"core": "0"}), gauge("cpu", 0, 2.0, attributes={"core": "1"})]
    rows, _ = run([span("s1")], metrics=pts)
    assert rows["s1"].metrics == {"cpu{core=0}": 1.0, "cpu{core=1}": 2.0}


def test_observed_time_only_log_is_on_reference_clock():
    # Host h2 runs 3 s ahead; its span is corrected back (one pair: centred in its parent, the
    # slack split evenly as latency), and a log carrying only the collector's observed time
    # (reference clock) must be compared with corrected times.
    root = span("root", start=0, end=500 * MS)
    child = span("child", "root", start=200 * MS + 3 * S, end=300 * MS + 3 * S, host="h2", service="db")
    lg = LogRecord(time_ns=0, observed_ns=T0 + 250 * MS, body="x", trace_id=TID, span_id="child", host="h2",
                   id="obs")
    rows, _ = run([root, child], [lg], max_lateness_ns=30 * S)
    r = rows["child"]
    assert r.clock_offset_ns == 3 * S
    assert r.start_ns == T0 + 200 * MS and r.orig_start_ns == T0 + 200 * MS + 3 * S
    assert r.log_ids == ["obs"]
    rows, _ = run([root, child], [lg], skew_correction=False)
    assert rows["child"].log_ids == [] and rows["child"].clock_offset_ns == 0
