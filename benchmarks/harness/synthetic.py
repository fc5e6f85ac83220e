"""Small synthetic traffic with known truth, to prove the engine (tests, benchmarks/correlate.py).

Not the simulator (pipeline/sim models a whole shop with faults); this is the least traffic
that exercises every correlation rule with an answer key: a few services on hosts whose clocks
are off by known amounts, nested synchronous calls plus an async consumer that outlives its
parent, logs with and without span ids (the latter only where one span of their service can
hold them) (and some carrying only the collector's observed time,
on the reference clock), per-host metric series at 1 s and 60 s, and exemplars.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from pipeline.model import (STATUS_ERROR, Exemplar, LogRecord, MetricPoint, Span,
                            content_id)

MS = 1_000_000
S = 1_000_000_000


@dataclass
class Traffic:
    spans: list[Span] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    metrics: list[MetricPoint] = field(default_factory=list)
    host_offsets: dict[str, int] = field(default_factory=dict)
    log_truth: dict[str, str] = field(default_factory=dict)  # log id -> span id
    # (trace_id, span_id, series label) -> value the span should read
    metric_truth: dict[tuple[str, str, str], float] = field(default_factory=dict)
    true_start: dict[str, int] = field(default_factory=dict)  # span id -> reference-clock start

    def arrival_order(self) -> list[tuple[int, str, object]]:
        """(arrival time, kind, record) sorted as an exporter would deliver them."""
        items: list[tuple[int, str, object]] = []
        for s in self.spans:
            items.append((s.end_ns - self.host_offsets.get(s.host, 0), "span", s))
        for r in self.logs:
            t = r.time_ns - self.host_offsets.get(r.host, 0) if r.time_ns else r.observed_ns
            items.append((t, "log", r))
        items.sort(key=lambda x: x[0])
        return items


SERVICES = ("frontend", "cart", "checkout", "payment", "stock", "mailer")
CALLEES = ("cart", "checkout", "payment", "stock")


def make_hosts(rng: random.Random, max_skew_ns: int) -> dict[str, tuple[str, int]]:
    """host -> (service, clock offset): two instances per service; most clocks right."""
    hosts: dict[str, tuple[str, int]] = {}
    for svc in SERVICES:
        for i in range(2):
            hosts[f"{svc}-{i}"] = (svc, 0)
    skewed = rng.sample(sorted(hosts), 4)
    for h in skewed:
        off = rng.randint(max_skew_ns // 5, max_skew_ns) * rng.choice((-1, 1))
        hosts[h] = (hosts[h][0], off)
    return hosts


def generate(n_traces: int, seed: int = 1, max_skew_ns: int = 5 * S, t0: int = 1_700_000_000 * S,
             rate_per_s: float = 50.0, with_metrics: bool = True) -> Traffic:
    """`n_traces` traces starting `rate_per_s` per second of event time, with their truth."""
    rng = random.Random(seed)
    hosts = make_hosts(rng, max_skew_ns)
    by_service: dict[str, list[str]] = {}
    for h, (svc, _) in sorted(hosts.items()):
        by_service.setdefault(svc, []).append(h)
    out = Traffic(host_offsets={h: off for h, (_, off) in hosts.items()})
    span_seq = [0]

    def new_span(trace_id: str, parent: str, svc: str, name: str, kind: int, start: int, end: int,
                 host: str | None = None) -> Span:
        span_seq[0] += 1
        sid = f"{rng.getrandbits(40):010x}{span_seq[0]:06x}"
        h = host or rng.choice(by_service[svc])
        off = hosts[h][1]
        sp = Span(trace_id=trace_id, span_id=sid, parent_span_id=parent, name=name,
                  start_ns=start + off, end_ns=end + off, kind=kind, service=svc, instance=h,
                  host=h)
        out.spans.append(sp)
        out.true_start[sid] = start
        return sp

    def add_logs(sp: Span, true_start: int, true_end: int, spanless: bool) -> None:
        off = hosts[sp.host][1]
        for j in range(rng.randint(1, 3)):
            t = rng.randint(true_start, true_end)
            mode = rng.random()
            err = sp.status_code == STATUS_ERROR and j == 0
            body = f"{sp.name} step {j} {'failed: timeout' if err else 'ok'}"
            rec = LogRecord(time_ns=t + off, body=body, severity_number=17 if err else 9,
                            trace_id=sp.trace_id, span_id=sp.span_id, service=sp.service,
                            instance=sp.instance, host=sp.host, observed_ns=t + rng.randint(5, 300) * MS,
                            rules=["timeout"] if err else [])
            if mode < 0.25 and spanless:
                rec.span_id = ""  # joined by time within its own service
            elif mode < 0.45:
                rec.time_ns = 0  # only the collector's observed time, reference clock
            rec.id = content_id(rec.time_ns, rec.observed_ns, rec.trace_id, rec.span_id, body, sp.span_id)
            out.logs.append(rec)
            out.log_truth[rec.id] = sp.span_id

    for n in range(n_traces):
        trace_id = f"{rng.getrandbits(64):016x}{n:016x}"
        start = t0 + int(n * S / rate_per_s) + rng.randint(0, 20 * MS)
        dur = rng.randint(60, 400) * MS
        root = new_span(trace_id, "", "frontend", "GET /", 2, start, start + dur)
        add_logs(root, start, start + dur, spanless=False)
        cursor = start + 5 * MS
        for svc in rng.sample(CALLEES, rng.randint(1, 3)):
            call = rng.randint(10, max(11, (start + dur - cursor) // MS // 2)) * MS
            if cursor + call > start + dur - MS:
                break
            client = new_span(trace_id, root.span_id, "frontend", f"call {svc}", 3, cursor, cursor + call,
                              host=root.host)
            lat_in, lat_out = rng.randint(1, 4) * MS, rng.randint(1, 4) * MS  # asymmetric network
            server_end = cursor + call - lat_out
            server = new_span(trace_id, client.span_id, svc, f"handle {svc}", 2, cursor + lat_in, server_end)
            if rng.random() < 0.05:
                server.status_code = STATUS_ERROR
            add_logs(server, cursor + lat_in, server_end, spanless=True)
            if svc == "checkout":
                # Async consumer: starts near the end and outlives the whole trace.
                c_start = server_end - MS
                consumer = new_span(trace_id, server.span_id, "mailer", "consume order", 5, c_start,
                                    c_start + rng.randint(300, 900) * MS)
                add_logs(consumer, c_start, consumer.end_ns - hosts[consumer.host][1], spanless=True)
            cursor += call + rng.randint(1, 10) * MS
    if with_metrics:
        _metrics(out, hosts, rng, t0, n_traces / rate_per_s + 10)
    return out


def _metrics(out: Traffic, hosts: dict[str, tuple[str, int]], rng: random.Random, t0: int,
             seconds: float) -> None:
    end = t0 + int(seconds * S)
    series: dict[tuple[str, str], list[tuple[int, float]]] = {}  # (host, name) -> true (t, v)
    for h, (svc, off) in sorted(hosts.items()):
        for name, step in (("cpu", 1 * S), ("mem", 60 * S)):
            t = t0 - 120 * S + rng.randint(0, step - 1)
            pts = series[(h, name)] = []
            while t < end + step:
                v = round(rng.uniform(0, 100), 3)
                pts.append((t, v))
                out.metrics.append(MetricPoint(name=name, type="gauge", time_ns=t + off, value=v,
                                               service=svc, instance=h, host=h))
                t += step
    by_host_spans: dict[str, list[Span]] = {}
    for s in out.spans:
        by_host_spans.setdefault(s.host, []).append(s)
    for (h, name), pts in series.items():
        times = [t for t, _ in pts]
        off = hosts[h][1]
        for s in by_host_spans.get(h, ()):
            a, b = s.start_ns - off, s.end_ns - off
            near = [(max(a - t, t - b, 0), -t, v) for t, v in pts if a - 2 * S <= t <= b + 2 * S]
            if near:
                out.metric_truth[(s.trace_id, s.span_id, name)] = min(near)[2]
            else:
                before = [v for t, v in pts if t <= b]
                if before and len(times) > 1:
                    out.metric_truth[(s.trace_id, s.span_id, name)] = before[-1]
    # Exemplars: a latency histogram point per server span of payment, pointing at the span.
    for s in out.spans:
        if s.service == "payment" and s.kind == 2:
            v = (s.end_ns - s.start_ns) / S
            out.metrics.append(MetricPoint(
                name="latency", type="histogram", time_ns=s.end_ns, value=v, service="payment",
                instance="", host="", exemplars=[Exemplar(time_ns=s.end_ns, value=v, trace_id=s.trace_id,
                                                           span_id=s.span_id)]))
            out.metric_truth[(s.trace_id, s.span_id, "latency")] = v


def score(traffic: Traffic, rows: list, since_ns: int = 0) -> tuple[float, float]:
    """(share of logs attached to their true span, share of metric readings that are right),
    over the final version of each row, for spans starting (true time) at or after since_ns."""
    final: dict[str, object] = {}
    for r in rows:
        cur = final.get(r.id)
        if cur is None or r.version > cur.version:
            final[r.id] = r
    attached = {lid: r.span_id for r in final.values() for lid in r.log_ids}
    starts = traffic.true_start
    logs = [(lid, sid) for lid, sid in traffic.log_truth.items() if starts[sid] >= since_ns]
    log_ok = sum(1 for lid, sid in logs if attached.get(lid) == sid)
    metric_ok = n_metric = 0
    for (tid, sid, name), value in traffic.metric_truth.items():
        if starts[sid] < since_ns:
            continue
        n_metric += 1
        r = final.get(tid + sid)
        if r is not None and r.metrics.get(name) == value:
            metric_ok += 1
    return log_ok / max(1, len(logs)), metric_ok / max(1, n_metric)
