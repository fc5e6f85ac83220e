"""Fault specs, where they land in the topology, and what each instance suffers at a moment.

A spec like `type=cpu,target=cart,start=+3m,duration=2m` is resolved once against the
topology into a `Fault` (concrete instances or edge, absolute true times, parameters, and for
memory leaks the OOM kill/restart schedule). `FaultPlan.state(t)` then gives the generator a
per-instance `InstanceFx` and per-edge effects that stay constant until the next boundary
(`FaultPlan.boundaries()`), so the hot loop reads plain attributes instead of checking faults.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from pipeline.sim.topology import Instance, Service, Topology
from pipeline.sim.units import format_duration, parse_duration_ns, parse_instant_ns, parse_kv, rfc3339

FAULT_TYPES = ("error", "latency", "cpu", "memory", "network-delay", "packet-loss",
               "dependency-down", "pool-exhaustion", "bad-deploy", "return-value", "caught-exception")
# Faults that change only which lines a handler logs: no error status, no latency.
SILENT_FAULTS = ("return-value", "caught-exception")
EDGE_FAULTS = ("network-delay", "packet-loss")
# Parameters each type takes, with defaults (as spec text).
FAULT_PARAMS = {
    "error": {"rate": "0.5"},
    "latency": {"delay": "400ms"},
    "cpu": {"factor": "4"},
    "memory": {"fill": "", "restart": "20s"},
    "network-delay": {"delay": "250ms"},
    "packet-loss": {"rate": "0.3"},
    "dependency-down": {},
    "pool-exhaustion": {},
    "bad-deploy": {"rate": "0.3", "version": ""},
    "return-value": {"rate": "1.0"},
    "caught-exception": {"rate": "1.0"},
}
# A killed instance still receives traffic until the load balancer notices.
LB_DETECT_NS = 3_000_000_000
WARMUP_NS = 30_000_000_000


@dataclass(slots=True, frozen=True)
class FaultSpec:
    type: str
    target: str
    start: str
    duration_ns: int
    params: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True, eq=False)
class Fault:
    spec: FaultSpec
    type: str
    service: Service
    instances: list[Instance]
    start_ns: int
    end_ns: int
    params: dict[str, str]
    caller: Service | None = None  # edge faults: caller -> service
    # memory: (instance, kill_ns, restart_ns) triples, in time order.
    ooms: list[tuple[Instance, int, int]] = field(default_factory=list)
    fill_ns: int = 0
    fills: dict[int, int] = field(default_factory=dict)  # memory: instance index -> time to fill

    def as_truth(self) -> dict:
        d = {"type": self.type, "spec": spec_text(self.spec), "target": self.spec.target,
             "service": self.service.name, "instances": [i.id for i in self.instances],
             "hosts": sorted({i.host for i in self.instances}),
             "start_ns": self.start_ns, "end_ns": self.end_ns,
             "start": rfc3339(self.start_ns), "end": rfc3339(self.end_ns),
             "duration": format_duration(self.end_ns - self.start_ns), "params": dict(self.params)}
        if self.caller is not None:
            d["edge"] = {"caller": self.caller.name, "callee": self.service.name}
        if self.type == "memory":
            d["fill"] = format_duration(self.fill_ns)
            d["oom_kills"] = [{"instance": i.id, "killed_ns": k, "killed": rfc3339(k),
                               "restarted_ns": r, "restarted": rfc3339(r)} for i, k, r in self.ooms]
        if self.type == "bad-deploy":
            d["version"] = self.params["version"]
        return d


def spec_text(spec: FaultSpec) -> str:
    extra = "".join(f",{k}={v}" for k, v in spec.params)
    return f"type={spec.type},target={spec.target},start={spec.start},duration={format_duration(spec.duration_ns)}{extra}"


def parse_fault(text: str) -> FaultSpec:
    """`type=cpu,target=cart,start=+3m,duration=2m[,rate=…|delay=…|factor=…]`."""
    f = parse_kv(text, "fault")
    for key in ("type", "target", "start", "duration"):
        if key not in f:
            raise ValueError(f"fault {text!r}: needs {key}=…")
    ftype = f.pop("type")
    if ftype not in FAULT_TYPES:
        raise ValueError(f"fault {text!r}: type must be one of {', '.join(FAULT_TYPES)}")
    target, start, duration = f.pop("target"), f.pop("start"), parse_duration_ns(f.pop("duration"))
    if duration <= 0:
        raise ValueError(f"fault {text!r}: duration must be positive")
    unknown = set(f) - set(FAULT_PARAMS[ftype])
    if unknown:
        raise ValueError(f"fault {text!r}: {ftype} takes no {sorted(unknown)} "
                         f"(it takes: {', '.join(FAULT_PARAMS[ftype]) or 'nothing'})")
    if ftype in EDGE_FAULTS and "->" not in target:
        raise ValueError(f"fault {text!r}: {ftype} needs an edge target like frontend->cart")
    if ftype not in EDGE_FAULTS and "->" in target:
        raise ValueError(f"fault {text!r}: only network faults take an edge target")
    if "T" not in start:
        parse_duration_ns(start)
    return FaultSpec(ftype, target, start, duration, tuple(sorted(f.items())))


def _float(params: dict[str, str], key: str, lo: float, hi: float) -> float:
    v = float(params[key])
    if not lo <= v <= hi:
        raise ValueError(f"fault parameter {key}={params[key]} must lie in [{lo}, {hi}]")
    return v


def resolve(spec: FaultSpec, topo: Topology, sim_start_ns: int, rng: random.Random) -> Fault:
    """Place a spec in the topology and in absolute true time."""
    start = parse_instant_ns(spec.start) if "T" in spec.start else sim_start_ns + parse_duration_ns(spec.start)
    params = {**FAULT_PARAMS[spec.type], **dict(spec.params)}
    caller = None
    if spec.type in EDGE_FAULTS:
        left, right = (s.strip() for s in spec.target.split("->", 1))
        if left not in topo.services or right not in topo.services:
            raise ValueError(f"fault target {spec.target}: both ends must be service names")
        caller, service = topo.services[left], topo.services[right]
        if not any(c.target.service is service or c.via is service
                   for op in caller.operations.values() for c in op.calls):
            raise ValueError(f"fault target {spec.target}: {left} never calls {right}")
        instances = list(service.instances)
    elif spec.target in topo.services:
        service = topo.services[spec.target]
        # A bad deploy is a canary: one instance gets the new build.
        instances = [service.instances[-1]] if spec.type == "bad-deploy" else list(service.instances)
    else:
        inst = topo.instance(spec.target)
        if inst is None:
            raise ValueError(f"fault target {spec.target!r} is neither a service nor an instance")
        service, instances = inst.service, [inst]
    if spec.type == "pool-exhaustion" and not service.pool_size:
        raise ValueError(f"fault target {spec.target}: {service.name} has no connection pool")
    fault = Fault(spec, spec.type, service, instances, start, start + spec.duration_ns, params, caller)
    if spec.type in ("error", "packet-loss") or spec.type in SILENT_FAULTS:
        _float(params, "rate", 0.0, 1.0)
    elif spec.type == "bad-deploy":
        _float(params, "rate", 0.0, 1.0)
        if not params["version"]:
            major, _, rest = service.version.partition(".")
            minor = rest.partition(".")[0] or "0"
            params["version"] = f"{major}.{int(minor) + 1 if minor.isdigit() else minor}.0"
    elif spec.type == "cpu":
        _float(params, "factor", 1.0, 100.0)
    elif spec.type in ("latency", "network-delay"):
        if parse_duration_ns(params["delay"], "ms") <= 0:
            raise ValueError(f"fault {spec_text(spec)}: delay must be positive")
    elif spec.type == "memory":
        fill = parse_duration_ns(params["fill"]) if params["fill"] else min(spec.duration_ns * 45 // 100, 300 * 10**9)
        restart = parse_duration_ns(params["restart"])
        if fill <= 0 or restart <= 0:
            raise ValueError(f"fault {spec_text(spec)}: fill and restart must be positive")
        fault.fill_ns = fill
        params["fill"] = format_duration(fill)
        for inst in instances:
            t = start
            fault.fills[inst.index] = fill_i = int(fill * rng.uniform(0.85, 1.15))
            while True:
                kill = t + fill_i
                if kill >= fault.end_ns:
                    break
                back = kill + int(restart * rng.uniform(0.9, 1.3))
                fault.ooms.append((inst, kill, back))
                t = back
        fault.ooms.sort(key=lambda o: (o[1], o[0].index))
    return fault


@dataclass(slots=True)
class InstanceFx:
    """What one instance suffers between two boundaries; the generator reads only this."""

    down: int = 0  # 0 up, 1 dead but still routed (refuses), 2 dead and out of rotation
    err_rate: float = 0.0  # extra probability that its own work fails
    err_kind: str = ""  # "error" | "bad-deploy" (which exception it throws)
    slow_ns: int = 0  # median extra self time (slow code)
    factor: float = 1.0  # self time multiplier (CPU contention, GC pressure, warm-up)
    cpu_busy: float = 0.0  # extra CPU utilisation, 0..1
    mem_bytes: float = 0.0
    gc_factor: float = 1.0
    pool_exhausted: bool = False
    version: str = ""
    silent: str = ""  # a SILENT_FAULTS type: what successful requests log instead of their line
    silent_rate: float = 0.0


@dataclass(slots=True)
class FaultPlan:
    topo: Topology
    faults: list[Fault]

    def boundaries(self) -> list[int]:
        """True times where some instance's effects change."""
        out = set()
        for f in self.faults:
            out.update((f.start_ns, f.end_ns))
            for _, kill, back in f.ooms:
                out.update((kill, kill + LB_DETECT_NS, back))
        return sorted(out)

    def lifecycle(self) -> list[tuple[int, str, Instance, Fault]]:
        """Instance events that write their own logs: deploys and rollbacks, OOM kills, restarts.

        A memory leak ends the way it does in production: a fixed build replaces the leaking one
        (memory back to its base), logged as a deploy by every instance that is up then.
        """
        ev = []
        for f in self.faults:
            if f.type == "bad-deploy":
                ev.extend((f.start_ns, "deploy", i, f) for i in f.instances)
                ev.extend((f.end_ns, "rollback", i, f) for i in f.instances)
            for inst, kill, back in f.ooms:
                ev.append((kill, "oom", inst, f))
                ev.append((back, "restart", inst, f))
            if f.type == "memory":
                ev.extend((f.end_ns, "rollback", i, f) for i in f.instances
                          if not any(o[0] is i and o[1] <= f.end_ns < o[2] for o in f.ooms))
        ev.sort(key=lambda e: (e[0], e[2].index, e[1]))
        return ev

    def state(self, t: int) -> tuple[list[InstanceFx], dict[tuple[str, str], tuple[int, float]]]:
        """Per-instance effects and per-edge (delay_ns, loss_rate) in force at true time t."""
        fx = [InstanceFx(mem_bytes=i.service.mem_base, version=i.service.version) for i in self.topo.instances]
        edges: dict[tuple[str, str], tuple[int, float]] = {}
        for f in self.faults:
            for inst, kill, back in f.ooms:  # restarts outlive the fault window
                x = fx[inst.index]
                if kill <= t < back:
                    x.down = 1 if t < kill + LB_DETECT_NS else 2
                elif back <= t < back + WARMUP_NS:
                    x.factor *= 1 + (back + WARMUP_NS - t) / WARMUP_NS
            if not f.start_ns <= t < f.end_ns:
                continue
            if f.type in EDGE_FAULTS:
                d, loss = edges.get((f.caller.name, f.service.name), (0, 0.0))
                if f.type == "network-delay":
                    d += parse_duration_ns(f.params["delay"], "ms")
                else:
                    loss = 1 - (1 - loss) * (1 - float(f.params["rate"]))
                edges[(f.caller.name, f.service.name)] = (d, loss)
                continue
            for inst in f.instances:
                x = fx[inst.index]
                if f.type == "error":
                    x.err_rate = max(x.err_rate, float(f.params["rate"]))
                    x.err_kind = x.err_kind or "error"
                elif f.type == "latency":
                    x.slow_ns += parse_duration_ns(f.params["delay"], "ms")
                elif f.type == "cpu":
                    x.factor *= float(f.params["factor"])
                    x.cpu_busy = max(x.cpu_busy, 0.92)
                elif f.type == "memory":
                    self._leak(x, inst, f, t)
                elif f.type == "dependency-down":
                    x.down = 1
                elif f.type == "pool-exhaustion":
                    x.pool_exhausted = True
                elif f.type in SILENT_FAULTS:
                    x.silent, x.silent_rate = f.type, float(f.params["rate"])
                elif f.type == "bad-deploy":
                    x.err_rate = max(x.err_rate, float(f.params["rate"]))
                    x.err_kind = "bad-deploy"
                    x.factor *= 1.5
                    x.version = f.params["version"]
        return fx, edges

    @staticmethod
    def _leak(x: InstanceFx, inst: Instance, f: Fault, t: int) -> None:
        """Memory climbs linearly from base since the leak (re)started; GC works harder near the limit."""
        since = f.start_ns
        for i, kill, back in f.ooms:
            if i is inst and back <= t:
                since = back
        if x.down:
            return
        svc = inst.service
        frac = min(1.0, (t - since) / f.fills[inst.index])
        x.mem_bytes = svc.mem_base + (svc.mem_limit - svc.mem_base) * frac * 0.995
        pressure = max(0.0, (x.mem_bytes / svc.mem_limit) - 0.75) / 0.25
        x.gc_factor = 1 + 30 * pressure ** 2
        x.factor *= 1 + 2.5 * pressure ** 2
        x.cpu_busy = max(x.cpu_busy, 0.5 * pressure)
