"""A small slice of telemetry shaped like real incidents, for the root-cause tests.

Spans carry no kind, status or attributes (a call is a span whose child runs in another
service); instances are Kubernetes pods named only in `k8s.pod.name`; metrics come one
reading a minute per pod, with a junk series that is always 0, minutes without a reading,
per-edge latency gauges carrying `peer.service` on both sides of each call, and an earlier
unrelated incident inside the baseline. Traffic: `front` serves requests and calls `auth` and
`shop`; `shop` calls `stock`.
"""

from __future__ import annotations

import random

import orjson

S = 10**9
MS = 10**6
T0 = 1_700_000_000 * S
ONSET = T0 + 32 * 60 * S
END = T0 + 40 * 60 * S
PODS = {svc: f"{svc}-6d8f7b9c4-{svc[:2]}x7q" for svc in ("front", "auth", "shop", "stock")}
CALLS = {"front": ("auth", "shop"), "shop": ("stock",)}
# The earlier incident inside every window's baseline: shop's pod runs hot for three minutes.
EARLIER = (T0 + 12 * 60 * S, T0 + 15 * 60 * S)


def _attrs(d: dict) -> list[dict]:
    return [{"key": k, "value": {"stringValue": v}} for k, v in d.items()]


def _res(svc: str) -> list[dict]:
    return _attrs({"service.name": svc, "k8s.pod.name": PODS[svc], "host.name": f"10.0.0.{len(svc)}"})


class Slice:
    """One run with a fault: `network` (calls into `stock` take 400 ms longer on the wire),
    `cpu` (`auth`'s pod pinned at its CPU limit, its own work three times slower) or `return`
    (`shop` returns early without calling `stock`, and no error is raised anywhere)."""

    def __init__(self, fault: str, seed: int = 3) -> None:
        self.fault = fault
        self.rng = random.Random(seed)
        self.target = {"network": "stock", "cpu": "auth", "return": "shop"}[fault]
        self.keep = True  # whether spans of the request being served are stored
        self.served: dict[tuple[str, int], int] = {}  # (service, minute) -> requests served
        self.logs: list[dict] = []  # auth's error lines, only inside the container runtime's wrapper
        self.spans: dict[str, list[dict]] = {svc: [] for svc in PODS}
        self.edge_ms: dict[tuple[str, str], list[tuple[int, float, float]]] = {}

    def _faulty(self, t: int) -> bool:
        return t >= ONSET

    def _serve(self, tid: str, svc: str, parent: str, start: int, n: list[int]) -> int:
        """Spans of one service handling one call; returns the end time."""
        n[0] += 1
        sid = f"{n[0]:016x}"
        minute = (start - T0) // (60 * S)
        self.served[(svc, minute)] = self.served.get((svc, minute), 0) + 1
        own = self.rng.uniform(2, 6) * MS
        if self.fault == "cpu" and svc == "auth" and self._faulty(start):
            own *= 3
        t = start + int(own / 2)
        for callee in CALLS.get(svc, ()):
            if self.fault == "return" and svc == "shop" and self._faulty(t):
                break
            n[0] += 1
            cid = f"{n[0]:016x}"
            wire = self.rng.uniform(0.3, 0.8) * MS
            if self.fault == "network" and callee == "stock" and self._faulty(t):
                wire += 400 * MS
            srv_end = self._serve(tid, callee, cid, t + int(wire / 2), n)
            call_end = srv_end + int(wire / 2)
            if self.keep:
                self.spans[svc].append(self._span(tid, cid, sid, f"{callee}.Service/Call", t, call_end))
            self.edge_ms.setdefault((svc, callee), []).append((t, (call_end - t) / MS, (srv_end - t - wire / 2) / MS))
            t = call_end
        end = t + int(own / 2)
        if self.keep:
            self.spans[svc].append(self._span(tid, sid, parent, f"{svc}.Service/Handle", start, end))
            if self.fault == "cpu" and svc == "auth" and self._faulty(start) and int(tid, 16) % 5 == 0:
                self.logs.append(self._error_log(tid, sid, start + int(own / 3)))
        return end

    @staticmethod
    def _error_log(tid: str, sid: str, t: int) -> dict:
        """An ERROR line as the container runtime wraps it: the level only inside the app's JSON."""
        line = orjson.dumps({"severity": "error", "message": f"TraceID: {tid} SpanID: {sid} token check timed out"})
        body = orjson.dumps({"log": line.decode() + "\n", "stream": "stderr", "time": "2023-11-14T22:45:00.000Z"})
        return {"timeUnixNano": str(t), "traceId": tid, "spanId": sid, "body": {"stringValue": body.decode()}}

    @staticmethod
    def _span(tid: str, sid: str, parent: str, name: str, start: int, end: int) -> dict:
        d = {"traceId": tid, "spanId": sid, "name": name, "startTimeUnixNano": str(start), "endTimeUnixNano": str(end)}
        if parent:
            d["parentSpanId"] = parent
        return d

    def _traces(self) -> list[bytes]:
        out = []
        t, k = T0, 0
        # traces are kept only around incidents, as in the real data: the earlier one and this one
        kept = [(EARLIER[0] - 60 * S, EARLIER[1] + 60 * S), (ONSET - 8 * 60 * S, END)]
        while t < END:
            self.keep = any(lo <= t < hi for lo, hi in kept)
            k += 1
            self._serve(f"{k:032x}", "front", "", t, [k * 100])
            t += int(self.rng.uniform(0.3, 0.7) * S)
        # one export request per 30 s of traffic, grouped by resource inside (as a collector batches)
        chunks: dict[int, dict[str, list[dict]]] = {}
        for svc, spans in self.spans.items():
            for sp in spans:
                chunks.setdefault(int(sp["startTimeUnixNano"]) // (30 * S), {}).setdefault(svc, []).append(sp)
        for _, by_svc in sorted(chunks.items()):
            doc = {"resourceSpans": [{"resource": {"attributes": _res(svc)}, "scopeSpans": [{"spans": spans}]}
                                     for svc, spans in by_svc.items()]}
            out.append(orjson.dumps(doc))
        return out

    def _gauge(self, name: str, points: list[tuple[int, float]], attrs: dict | None = None) -> dict:
        dps = [{"timeUnixNano": str(t), "asDouble": v, **({"attributes": _attrs(attrs)} if attrs else {})}
               for t, v in points]
        return {"name": name, "gauge": {"dataPoints": dps}}

    def _metrics(self) -> list[bytes]:
        minutes = [T0 + m * 60 * S for m in range(1, 41)]
        out = []
        for svc in PODS:
            cpu, mem, junk, lat, work = [], [], [], [], []
            for m, t in enumerate(minutes):
                hot = (self.fault == "cpu" and svc == "auth" and t > ONSET + 30 * S) or \
                      (svc == "shop" and EARLIER[0] < t <= EARLIER[1] + 60 * S)
                cpu.append((t, (self.rng.uniform(92, 99) if hot else self.rng.uniform(3, 8))))
                mem.append((t, 120 + self.rng.uniform(-3, 3)))
                junk.append((t, 0.0))
                work.append((t, float(self.served.get((svc, m), 0))))  # requests in the minute before
                if m % 7 != 3:  # some minutes have no reading: missing, not zero
                    lat.append((t, self.rng.uniform(0.004, 0.006) * (3 if hot else 1)))
            metrics = [self._gauge("pod.cpu.utilization", cpu), self._gauge("pod.memory.usage", mem),
                       self._gauge("pod.success_rate", junk), self._gauge("pod.server.latency.p90", lat),
                       self._gauge("pod.workload", work)]
            for (caller, callee), calls in self.edge_ms.items():
                for side, peer, idx in (("client", callee, 1), ("server", caller, 2)):
                    if (caller if side == "client" else callee) != svc:
                        continue
                    pts = []
                    for t in minutes:
                        vals = sorted(c[idx] for c in calls if t - 60 * S <= c[0] < t)
                        pts.append((t, vals[len(vals) // 2] / 1e3 if vals else 0.004))
                    metrics.append(self._gauge(f"rpc.{side}.duration.p50", pts, {"peer.service": peer}))
            doc = {"resourceMetrics": [{"resource": {"attributes": _res(svc)}, "scopeMetrics": [{"metrics": metrics}]}]}
            out.append(orjson.dumps(doc))
        return out

    def messages(self) -> list[tuple[str, bytes]]:
        spans = self._traces()  # first: the edge gauges are measured from the calls made
        logs = [("otlp_logs", orjson.dumps({"resourceLogs": [{"resource": {"attributes": _res("auth")},
                                                              "scopeLogs": [{"logRecords": self.logs}]}]}))]
        # logs ahead of the spans, as a log shipper usually is: they wait for their traces
        return [("otlp_metrics", m) for m in self._metrics()] + (logs if self.logs else []) + [
            ("otlp_spans", s) for s in spans]


def load_slice(chdb_root, fault: str):
    """A fresh database holding one Slice, stored through every stage in-process."""
    import uuid

    import clickhouse_connect

    from pipeline.config import Settings
    from benchmarks.harness.offline import OfflinePipeline
    from pipeline.store.migrate import migrate

    admin = clickhouse_connect.get_client(dsn=f"chdb://{chdb_root}")
    db = "real_" + uuid.uuid4().hex[:10]
    admin.command(f"CREATE DATABASE {db}")
    client = clickhouse_connect.get_client(dsn=f"chdb://{chdb_root}", database=db)
    migrate(client, Settings())
    sl = Slice(fault)
    pipe = OfflinePipeline(client)
    pipe.feed(sl.messages())
    pipe.close()
    return client, sl
