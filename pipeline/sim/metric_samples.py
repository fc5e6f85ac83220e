"""Per-instance metric samples on each service's schedule, derived from what the instance did.

Request rate, error rate and latency quantiles come from the requests actually generated;
CPU from self time plus any contention; memory, GC and pool use from the fault effects. Two
junk series per instance mimic what real scrapes contain: one stuck at zero and one network
counter that occasionally reports an overflow spike (and, in the `real` profile, a latency
gauge that is NaN when the instance served nothing). A dead instance writes no samples.

Metric tuple: (name, unit, kind, time_ns, start_time_ns, value, attrs, summary) with kind
"gauge" or "summary"; summary is (count, sum, ((quantile, value), …)) for summaries.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from pipeline.sim.attrs import EMPTY, Attrs
from pipeline.sim.request_walk import InstStats
from pipeline.sim.faults import InstanceFx
from pipeline.sim.logtext import INFO, WARN
from pipeline.sim.topology import Instance, Topology

QUANTILES = (0.5, 0.95, 0.99)
OVERFLOW = 18446744073709551615.0  # a wrapped uint64 counter read as a gauge
NAN = float("nan")
_GC_BASE_MS = {"java": 6.0, "dotnet": 4.0, "go": 0.6, "node": 2.0, "python": 1.5}


class MetricSampler:
    """Emits samples for every instance whose next sample time has passed."""

    def __init__(self, topo: Topology, start_ns: int, rng: random.Random,
                 emitters: list[Callable[[int], int]], interval_override_ns: int | None = None,
                 nan_when_idle: bool = False) -> None:
        self.topo = topo
        self.rng = rng
        self.emit = emitters
        self.start_ns = start_ns
        self.interval = [interval_override_ns or i.service.metric_interval_ns for i in topo.instances]
        # Each instance scrapes on its own phase, as independent agents do.
        self.next = [start_ns + int(rng.random() * iv) for iv in self.interval]
        self.pool_attrs = {i.index: Attrs((("pool.name", f"{i.service.name}-{i.service.pool_to}"),))
                           for i in topo.instances if i.service.pool_size}
        self.junk_zero = {i.index for i in topo.instances if i.index % 3 == 0}
        self.nan_when_idle = nan_when_idle

    def sample(self, until_ns: int, stats: list[InstStats], fx: list[InstanceFx],
               log: Callable[..., None]) -> list[list[tuple]]:
        """Samples due at or before until_ns, per instance; resets the stats they consumed."""
        out: list[list[tuple]] = [[] for _ in self.topo.instances]
        for inst in self.topo.instances:
            k = inst.index
            while self.next[k] <= until_ns:
                t = self.next[k]
                self.next[k] = t + self.interval[k]
                if fx[k].down:
                    stats[k].reset()
                    continue
                self._one(inst, t, stats[k], fx[k], out[k], log)
                stats[k].reset()
        return out

    def _one(self, inst: Instance, t: int, st: InstStats, fx: InstanceFx, out: list[tuple],
             log: Callable[..., None]) -> None:
        rng = self.rng
        svc = inst.service
        k = inst.index
        iv = self.interval[k]
        secs = iv / 1e9
        et = self.emit[k](t)
        es = self.emit[k](max(self.start_ns, t - iv))
        cpu = 0.02 + st.busy_ns / (iv * svc.cpu_cores) + 0.01 * rng.random()
        if fx.cpu_busy:
            cpu = max(cpu, fx.cpu_busy + 0.06 * rng.random())
        out.append(("process.cpu.utilization", "1", "gauge", et, es, round(min(cpu, 1.0), 4), EMPTY, None))
        mem = fx.mem_bytes * (1 + 0.02 * rng.random())
        out.append(("process.memory.usage", "By", "gauge", et, es, float(int(mem)), EMPTY, None))
        if svc.emits_spans:
            gc = _GC_BASE_MS[svc.language] * fx.gc_factor * (0.7 + 0.6 * rng.random())
            out.append(("runtime.gc.pause", "ms", "gauge", et, es, round(gc, 3), EMPTY, None))
        out.append(("service.request.rate", "1/s", "gauge", et, es, round(st.n / secs, 3), EMPTY, None))
        out.append(("service.error.rate", "1/s", "gauge", et, es, round(st.err / secs, 3), EMPTY, None))
        durs = sorted(st.durs)
        qs = tuple((q, round(durs[min(len(durs) - 1, int(q * len(durs)))] / 1e6, 3) if durs else 0.0)
                   for q in QUANTILES)
        out.append(("service.request.duration", "ms", "summary", et, es, 0.0, EMPTY,
                    (len(durs), round(sum(durs) / 1e6, 3), qs)))
        if self.nan_when_idle:  # a latency gauge exporters write as NaN when nothing was served
            out.append(("service.request.duration.p99", "ms", "gauge", et, es, qs[-1][1] if durs else NAN, EMPTY,
                        None))
        if svc.pool_size:
            pa = self.pool_attrs[k]
            used = min(float(svc.pool_size), st.pool_busy_ns / iv * (1 + 0.1 * rng.random()))
            pending = st.pool_wait_ns / iv
            if fx.pool_exhausted:
                used = float(svc.pool_size)
            out.append(("db.client.connections.usage", "{connection}", "gauge", et, es, round(used, 3), pa, None))
            out.append(("db.client.connections.max", "{connection}", "gauge", et, es, float(svc.pool_size), pa, None))
            out.append(("db.client.connections.pending_requests", "{request}", "gauge", et, es, round(pending, 3),
                        pa, None))
            out.append(("db.client.connections.timeouts", "{timeout}", "gauge", et, es,
                        float(st.pool_timeouts), pa, None))
        net = OVERFLOW if rng.random() < 0.01 else round(st.n / secs * 2400 * (0.8 + 0.4 * rng.random()), 1)
        out.append(("system.network.io.rate", "By/s", "gauge", et, es, net, EMPTY, None))
        if k in self.junk_zero:
            out.append(("legacy.queue.depth", "1", "gauge", et, es, 0.0, EMPTY, None))
        if svc.emits_spans:
            # Trace-less housekeeping lines, and the warning a leak eventually causes.
            if fx.mem_bytes > 0.85 * svc.mem_limit:
                log(inst, WARN, f"memory usage {100 * fx.mem_bytes / svc.mem_limit:.0f}% of limit "
                                f"({int(fx.mem_bytes) >> 20}MiB/{int(svc.mem_limit) >> 20}MiB), GC running "
                                f"{fx.gc_factor:.0f}x more often", t)
            elif rng.random() < 0.5:
                log(inst, INFO, f"health check ok uptime={(t - self.start_ns) // 1_000_000_000}s "
                                f"goroutines={50 + rng.getrandbits(6)}" if svc.language == "go" else
                                f"health check ok requests={st.n} errors={st.err}", t)
