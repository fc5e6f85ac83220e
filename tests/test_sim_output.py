"""The simulator's output checked against its own spec: valid OTLP, consistent traces, logs
inside their spans in true time, metrics on schedule, deterministic bytes."""

from __future__ import annotations

import base64
import collections
import re

import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from pipeline.sim.clock import SkewSpec
from pipeline.sim.faults import parse_fault
from pipeline.ingest.framing import read_delimited
from pipeline.sim.output import write_files
from pipeline.sim.simulator import SimConfig, Simulation
from pipeline.sim.topology import load_topology
from tests.sim_support import NS, run

REQUEST = {"traces": ExportTraceServiceRequest, "logs": ExportLogsServiceRequest,
           "metrics": ExportMetricsServiceRequest}
HEX = re.compile(r"^[0-9a-f]+$")


@pytest.fixture(scope="module")
def shop():
    return run(preset="shop", duration_ns=40 * NS, rps=30, seed=11, truth_detail=True, batch=200)


def _hex_to_b64(node: object) -> None:
    """OTLP/JSON ids are hex; protobuf's generic JSON parser wants base64: convert in place."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str):
                assert HEX.match(v) and len(v) == (32 if k == "traceId" else 16), (k, v)
                node[k] = base64.b64encode(bytes.fromhex(v)).decode()
            else:
                _hex_to_b64(v)
    elif isinstance(node, list):
        for v in node:
            _hex_to_b64(v)


def test_every_json_request_is_valid_otlp(shop):
    for signal in ("traces", "logs", "metrics"):
        assert shop.raw[signal], signal
        for payload in shop.raw[signal]:
            doc = orjson.loads(payload)
            _hex_to_b64(doc)
            msg = json_format.ParseDict(doc, REQUEST[signal]())  # strict: unknown fields fail
            assert msg.ByteSize() > 0


def test_resource_attributes_and_batching(shop):
    for rec in shop.spans + shop.logs + shop.metrics:
        assert rec["service"] and rec["instance"].startswith(rec["service"] + "-") and rec["host"].startswith("node-")
    for payload in shop.raw["traces"]:
        doc = orjson.loads(payload)
        n = sum(len(s["spans"]) for r in doc["resourceSpans"] for s in r["scopeSpans"])
        assert 0 < n <= 200
        # Grouped by resource: no instance appears twice in one request.
        ids = [next(a for a in r["resource"]["attributes"] if a["key"] == "service.instance.id")["value"]["stringValue"]
               for r in doc["resourceSpans"]]
        assert len(ids) == len(set(ids))


def test_counts_match_output(shop):
    c = shop.truth["counts"]
    assert (c["spans"], c["logs"], c["metrics"]) == (len(shop.spans), len(shop.logs), len(shop.metrics))
    assert abs(c["requests"] - 40 * 30) < 4 * (40 * 30) ** 0.5  # Poisson arrivals


def test_traces_are_consistent_trees(shop):
    by_trace = collections.defaultdict(dict)
    for s in shop.spans:
        assert s["span"] not in by_trace[s["trace"]], "duplicate span id"
        by_trace[s["trace"]][s["span"]] = s
    assert len(by_trace) > 500
    for spans in by_trace.values():
        roots = [s for s in spans.values() if not s["parent"]]
        assert len(roots) == 1
        assert roots[0]["service"] == "frontend"
        for s in spans.values():
            assert s["start"] <= s["end"]
            if s["parent"]:
                assert s["parent"] in spans, "parent missing from its trace"


def test_children_nest_in_true_time():
    """Client spans lie inside their server span; a server span inside its client span unless the
    client gave up (timeout); consumers start after their producer. Clocks skewed on purpose."""
    out = run(preset="shop", duration_ns=20 * NS, rps=20, seed=5,
              skews=[SkewSpec("node-2", 2_500_000_000, 50_000_000 / 60)])
    timeouts = {c.timeout_ns for s in load_topology("shop").services.values()
                for op in s.operations.values() for c in op.calls if c.timeout_ns}
    spans = {(s["trace"], s["span"]): s for s in out.spans}
    true = {k: (out.true_ns(s["host"], s["start"]), out.true_ns(s["host"], s["end"])) for k, s in spans.items()}
    checked = collections.Counter()
    for k, s in spans.items():
        if not s["parent"]:
            continue
        pk = (s["trace"], s["parent"])
        (cs, ce), (ps, pe) = true[k], true[pk]
        parent = spans[pk]
        if s["name"].endswith(" process"):
            assert cs >= pe
            checked["consumer"] += 1
        elif parent["instance"] == s["instance"]:
            assert ps <= cs and ce <= pe
            checked["local"] += 1
        else:
            assert ps < cs
            assert ce < pe or pe - ps in timeouts
            checked["remote"] += 1
    assert checked["local"] > 100 and checked["remote"] > 100 and checked["consumer"] > 0, checked
    # Raw (skewed) times do break nesting somewhere: the skew is really applied.
    broken = sum(1 for k, s in spans.items() if s["parent"] and s["instance"] != spans[(s["trace"], s["parent"])]["instance"]
                 and s["start"] < spans[(s["trace"], s["parent"])]["start"])
    assert broken > 0


def test_logs_lie_inside_their_spans_in_true_time(shop):
    spans = {(s["trace"], s["span"]): s for s in shop.spans}
    assert len(shop.log_truth) == len(shop.logs)
    logs = {(r["instance"], r["time"], r["body"]): r for r in shop.logs}
    inside = 0
    for t in shop.log_truth:
        rec = logs[(t["instance"], t["time_unix_nano"], t["body"])]
        if not t["span_id"]:
            assert not rec["trace"]
            continue
        span = spans[(t["trace_id"], t["span_id"])]
        assert span["instance"] == t["instance"]
        lt = shop.true_ns(rec["host"], rec["time"])
        assert shop.true_ns(span["host"], span["start"]) <= lt <= shop.true_ns(span["host"], span["end"])
        inside += 1
        if rec["trace"]:  # ids in the record are the true ones
            assert (rec["trace"], rec["span"]) == (t["trace_id"], t["span_id"])
    assert inside > 500


def test_trace_context_is_carried_in_every_style(shop):
    styles = collections.Counter()
    for r in shop.logs:
        body = r["body"]
        if r["trace"]:
            styles["record"] += 1
        if "traceparent=00-" in body:
            styles["traceparent"] += 1
        if "TraceID: " in body:
            styles["TraceID"] += 1
        if "trace_id=" in body or '"trace_id":' in body:
            styles["trace_id"] += 1
    truth_with_ids = sum(1 for t in shop.log_truth if t["trace_id"])
    assert all(styles[s] > 20 for s in ("record", "traceparent", "TraceID", "trace_id")), styles
    assert sum(1 for t, r in zip(shop.log_truth, shop.logs) if t["trace_id"] and not r["trace"]) > 0
    assert truth_with_ids < len(shop.logs)  # and some lines belong to no span at all


def test_log_formats_are_mixed(shop):
    bodies = collections.defaultdict(list)
    for r in shop.logs:
        bodies[r["service"]].append(r["body"])
    assert bodies["frontend"][0].startswith("{") and orjson.loads(bodies["frontend"][0])["msg"]
    assert all(orjson.loads(b)["stream"] in ("stdout", "stderr") for b in bodies["cart"])  # container wrapper
    assert re.match(r"^<\d+>1 \d{4}-\d\d-\d\dT", bodies["recommendation"][0])  # RFC 5424
    assert re.match(r"^<\d+>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d ", bodies["payment"][0])  # RFC 3164
    assert re.match(r"^time=\S+ level=\w+ msg=\"", bodies["currency"][0])  # logfmt
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} +[A-Z]+ \d+ --- \[", bodies["catalog"][0])  # logback


def test_metrics_on_schedule():
    out = run(preset="shop", duration_ns=65 * NS, rps=10, seed=2, random_skew=False, metric_interval_ns=5 * NS)
    series = collections.defaultdict(list)
    for m in out.metrics:
        series[(m["instance"], m["name"])].append(m["time"])
    start = out.truth["start_ns"]
    instances = {i["instance"] for i in out.truth["instances"]}
    assert {inst for inst, name in series if name == "process.cpu.utilization"} == instances
    for (inst, name), times in series.items():
        if name in ("process.cpu.utilization", "process.memory.usage", "service.request.rate"):
            assert start <= times[0] < start + 5 * NS
            assert len(times) == 13
            assert all(b - a == 5 * NS for a, b in zip(times, times[1:]))


def test_summary_quantiles_follow_request_latency():
    out = run(preset="shop", duration_ns=30 * NS, rps=20, seed=4, random_skew=False)
    for m in out.metrics:
        if m["name"] == "service.request.duration" and int(m["dp"]["count"]) > 20:
            q = [v["value"] for v in m["dp"]["quantileValues"]]
            assert q == sorted(q) and q[0] > 0
            assert int(m["dp"]["startTimeUnixNano"]) < int(m["dp"]["timeUnixNano"])


def _files(tmp_path, name: str, **kw) -> dict[str, bytes]:
    sim = Simulation(SimConfig(preset="shop", duration_ns=15 * NS, rps=15, **kw))
    d = tmp_path / name
    write_files(sim, d)
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


@pytest.mark.parametrize("encoding", ["otlp-json", "otlp-proto", "jsonl"])
def test_same_seed_same_bytes(tmp_path, encoding):
    fault = [parse_fault("type=memory,target=cart-1,start=+2s,duration=12s,fill=4s,restart=3s")]
    a = _files(tmp_path, "a", seed=9, encoding=encoding, faults=fault, truth_detail=True)
    b = _files(tmp_path, "b", seed=9, encoding=encoding, faults=fault, truth_detail=True)
    c = _files(tmp_path, "c", seed=10, encoding=encoding, faults=fault, truth_detail=True)
    assert a == b
    assert set(a) == set(c) and a["ground_truth.json"] != c["ground_truth.json"]
    assert all(a[n] != c[n] for n in a if n != "ground_truth.json")
    assert "log_truth.jsonl" in a and len(a) >= 3


def test_proto_files_hold_the_same_records_as_json(tmp_path):
    j = _files(tmp_path, "j", seed=3, encoding="otlp-json")
    p = _files(tmp_path, "p", seed=3, encoding="otlp-proto")
    for signal, cls in REQUEST.items():
        json_msgs = [orjson.loads(line) for line in j[f"{signal}.jsonl"].splitlines()]
        proto_msgs = [cls.FromString(m) for m in read_delimited(p[f"{signal}.binpb"])]
        assert len(json_msgs) == len(proto_msgs) > 0
        for jd, pm in zip(json_msgs, proto_msgs):
            _hex_to_b64(jd)
            assert json_format.ParseDict(jd, cls()) == pm


def test_flat_events_follow_the_model(tmp_path):
    files = _files(tmp_path, "e", seed=3, encoding="jsonl")
    kinds = collections.Counter()
    truth = orjson.loads(files["ground_truth.json"])
    for line in files["events.jsonl"].splitlines():
        ev = orjson.loads(line)
        kinds[ev["signal"]] += 1
        assert ev["service"] and ev["instance"] and ev["host"]
        assert all(isinstance(v, str) for v in ev["resource"].values())
        if ev["signal"] == "span":
            assert len(ev["trace_id"]) == 32 and len(ev["span_id"]) == 16 and ev["end"] >= ev["start"]
        elif ev["signal"] == "metric":
            assert ev["type"] in ("gauge", "summary")
    c = truth["counts"]
    assert kinds == {"span": c["spans"], "log": c["logs"], "metric": c["metrics"]}


def test_junk_metric_series_are_present():
    out = run(preset="shop", duration_ns=30 * NS, rps=5, seed=6, random_skew=False, metric_interval_ns=NS)
    zero = [m["value"] for m in out.metrics if m["name"] == "legacy.queue.depth"]
    net = [m["value"] for m in out.metrics if m["name"] == "system.network.io.rate"]
    assert zero and set(zero) == {0.0}
    spikes = [v for v in net if v > 1e18]
    assert spikes and len(spikes) < 0.05 * len(net)  # rare overflow spikes among ordinary rates
    assert max(v for v in net if v < 1e18) < 1e8
