"""The simulation as a whole: configuration, time slicing, encoding, ground truth.

True time is cut into slices (short enough to bound memory at high request rates, and cut
again wherever a fault starts, ends, kills or restarts something); each slice's records are
encoded and handed out before the next is generated, so a long run streams in flat memory.
Everything random comes from generators seeded by the seed alone: the same config gives the
same bytes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson

from pipeline.gcpause import gc_paused
from pipeline.sim import flat_events, otlp_json, otlp_proto
from pipeline.sim.attrs import Attrs
from pipeline.sim.clock import SkewSpec, host_clocks
from pipeline.sim.request_walk import TraceGenerator
from pipeline.sim.faults import FaultPlan, FaultSpec, resolve
from pipeline.sim.logtext import FATAL, INFO, WARN, oom_message
from pipeline.sim.metric_samples import MetricSampler
from pipeline.sim.profiles import REAL_LOG_TZ, apply_profile, resource_pairs
from pipeline.sim.topology import Instance, load_topology
from pipeline.sim.units import format_duration, rfc3339

ENCODINGS = ("otlp-json", "otlp-proto", "jsonl")
SIGNALS = ("traces", "logs", "metrics")
_ENCODERS = {"otlp-json": otlp_json.encode, "otlp-proto": otlp_proto.encode, "jsonl": flat_events.encode}
# Default start: 2025-01-01T00:00:00Z plus a whole number of days taken from the seed.
_EPOCH_NS = 1_735_689_600 * 10**9
_DAY_NS = 86_400 * 10**9
_MAX_SLICE_NS = 10**9
_MIN_SLICE_NS = 10_000_000
_REQUESTS_PER_SLICE = 2000


@dataclass(slots=True)
class SimConfig:
    preset: str | None = "shop"
    topology: str | None = None  # a YAML file; set preset=None when using it
    duration_ns: int = 60 * 10**9
    rps: float = 20.0
    seed: int = 1
    start_ns: int | None = None  # default: derived from the seed
    faults: list[FaultSpec] = field(default_factory=list)
    skews: list[SkewSpec] = field(default_factory=list)
    random_skew: bool = True  # hosts without an explicit skew get a random one
    encoding: str = "otlp-json"
    batch: int = 512  # records per export request / message
    metric_interval_ns: int | None = None  # overrides every service's interval
    truth_detail: bool = False  # also yield ("log_truth", lines)
    profile: str = "otel"  # how much services tell (pipeline/sim/profiles.py): otel | real


class Simulation:
    """A configured run. `messages()` streams encoded output; `ground_truth()` says what happened."""

    def __init__(self, config: SimConfig) -> None:
        if config.encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}")
        if config.rps <= 0 or config.duration_ns <= 0 or config.batch <= 0:
            raise ValueError("rps, duration and batch must be positive")
        self.config = config
        self.topo = load_topology(config.preset, config.topology) if config.preset else load_topology(path=config.topology)
        apply_profile(self.topo, config.profile, config.seed)
        self.start_ns = config.start_ns if config.start_ns is not None else _EPOCH_NS + (config.seed % 1000) * _DAY_NS
        self.end_ns = self.start_ns + config.duration_ns
        setup = random.Random(f"telecorr-sim:{config.seed}:setup")
        self.clocks = host_clocks(self.topo.hosts, config.skews, self.start_ns,
                                  setup if config.random_skew else None)
        self.plan = FaultPlan(self.topo, [resolve(s, self.topo, self.start_ns, setup) for s in config.faults])
        rng = random.Random(f"telecorr-sim:{config.seed}:run")
        emitters = [self.clocks[i.host].emit for i in self.topo.instances]
        host_no = {h: n for n, h in enumerate(self.topo.hosts)}
        ips = [f"10.0.{host_no[i.host] + 1}.{10 + i.index}:{i.service.port}" for i in self.topo.instances]
        self.gen = TraceGenerator(self.topo, [self.clocks[i.host].params() for i in self.topo.instances], rng, ips)
        self.sampler = MetricSampler(self.topo, self.start_ns, rng, emitters, config.metric_interval_ns,
                                     nan_when_idle=config.profile == "real")
        self.counts = {"requests": 0, "spans": 0, "logs": 0, "metrics": 0}
        self._resources: dict[tuple[int, str], Attrs] = {}

    # -- time slicing -------------------------------------------------------------------------

    def _slices(self) -> list[tuple[int, int]]:
        step = int(min(_MAX_SLICE_NS, max(_MIN_SLICE_NS, _REQUESTS_PER_SLICE / self.config.rps * 1e9)))
        cuts = set(range(self.start_ns, self.end_ns, step))
        cuts.update(t for t in self.plan.boundaries() if self.start_ns < t < self.end_ns)
        cuts.update(t for t, *_ in self.plan.lifecycle() if self.start_ns < t < self.end_ns)
        edges = sorted(cuts) + [self.end_ns]
        return list(zip(edges, edges[1:]))

    def _resource(self, inst: Instance, version: str) -> Attrs:
        key = (inst.index, version)
        r = self._resources.get(key)
        if r is None:
            r = self._resources[key] = Attrs(resource_pairs(self.config.profile, inst, version, self.topo.name))
        return r

    def _lifecycle(self, t: int, what: str, inst: Instance, version: str) -> None:
        svc = inst.service
        log = self.gen.log
        if what == "oom":
            log(inst, FATAL, oom_message(svc.language), t - 1000)
        elif what in ("deploy", "rollback"):
            log(inst, INFO, f"received SIGTERM, shutting down {svc.name}", t - 500_000_000)
            log(inst, INFO, f"starting {svc.name} version {version} on {inst.host} (pid {inst.pid})", t)
        else:
            log(inst, WARN, f"previous run of {svc.name} exited with code 137 (OOMKilled)", t)
            log(inst, INFO, f"starting {svc.name} version {version} on {inst.host} (pid {inst.pid})", t + 1000)

    def _slice(self, t0: int, t1: int, events: list[tuple]) -> dict[str, list[tuple[Attrs, list[tuple]]]]:
        """Generate [t0, t1): signal -> [(resource, records)] in instance order; consumes `events`."""
        gen = self.gen
        fx, edges = self.plan.state(t0)
        gen.set_effects(fx, edges)
        while events and events[-1][0] < t1:
            t, what, inst, _ = events.pop()
            self._lifecycle(t, what, inst, fx[inst.index].version)
        self.counts["requests"] += gen.requests(t0, t1, self.config.rps)
        metrics = self.sampler.sample(t1 - 1, gen.stats, fx, gen.log)
        spans, logs = gen.take()
        out: dict[str, list[tuple[Attrs, list[tuple]]]] = {s: [] for s in SIGNALS}
        for inst in self.topo.instances:
            k = inst.index
            res = self._resource(inst, fx[k].version)
            for signal, recs in (("traces", spans[k]), ("logs", logs[k]), ("metrics", metrics[k])):
                if recs:
                    out[signal].append((res, recs))
        return out

    def _pending_events(self) -> list[tuple]:
        """Lifecycle events of the run, latest first (slices pop them off the end)."""
        return [e for e in reversed(self.plan.lifecycle()) if self.start_ns <= e[0] < self.end_ns]

    def messages(self) -> Iterator[tuple[str, bytes]]:
        """(signal, payload): signal is traces/logs/metrics (or log_truth with truth_detail)."""
        encode = _ENCODERS[self.config.encoding]
        batch = self.config.batch
        counted = {"traces": "spans", "logs": "logs", "metrics": "metrics"}
        events = self._pending_events()
        for t0, t1 in self._slices():
            # Generate and encode in one pause, and drop the records before the collector is back:
            # otherwise its first pass walks every tuple of the slice, for nothing (~10 % of a run).
            with gc_paused():
                out = self._slice(t0, t1, events)
                ready = []
                for signal in SIGNALS:
                    for payload, n in encode(signal, out[signal], batch):
                        self.counts[counted[signal]] += n
                        ready.append((signal, payload))
                if self.config.truth_detail and out["logs"]:
                    ready.append(("log_truth", b"\n".join(_log_truth(res, recs) for res, recs in out["logs"])))
                del out
            yield from ready

    def ground_truth(self) -> dict:
        """What was injected and how clocks were set; counts are final once messages() is exhausted."""
        c = self.config
        return {
            "generator": "telecorr simulate",
            "seed": c.seed, "preset": c.preset, "topology_file": c.topology, "topology": self.topo.name,
            "start_ns": self.start_ns, "start": rfc3339(self.start_ns),
            "end_ns": self.end_ns, "end": rfc3339(self.end_ns),
            "duration": format_duration(c.duration_ns), "duration_ns": c.duration_ns, "rps": c.rps,
            "encoding": c.encoding, "profile": c.profile,
            "log_tz": REAL_LOG_TZ if c.profile == "real" else "UTC",
            "faults": [f.as_truth() for f in self.plan.faults],
            "clocks": {h: clk.as_truth() for h, clk in self.clocks.items()},
            "instances": [{"instance": i.id, "service": i.service.name, "host": i.host,
                           "version": i.service.version, "emits_spans": i.service.emits_spans}
                          for i in self.topo.instances],
            "counts": dict(self.counts),
        }


def _log_truth(res: Attrs, recs: list[tuple]) -> bytes:
    inst = res.get("service.instance.id") or res.get("k8s.pod.name")
    return b"\n".join(orjson.dumps({"instance": inst, "time_unix_nano": r[0], "body": r[4],
                                    "trace_id": r[7], "span_id": r[8]}) for r in recs)


def simulate(config: SimConfig) -> Iterator[tuple[str, bytes]]:
    """Stream a run's encoded output in-process: (signal, payload) pairs."""
    return Simulation(config).messages()
