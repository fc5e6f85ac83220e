"""The simulated system: services, their instances on hosts, operations and who calls whom.

Loaded from a YAML file (see shop.yaml for the annotated format) and checked once, so
the request generator can follow plain object references without validating anything per
request. Data stores (postgresql, mysql, redis) and brokers (kafka) are leaves that emit no
spans of their own: callers see them only through client spans, as with real databases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from pipeline.sim.units import parse_duration_ns

RPC_PROTOCOLS = ("http", "grpc")
STORE_PROTOCOLS = ("postgresql", "mysql", "redis")
BROKER_PROTOCOLS = ("kafka",)
LOG_FORMATS = ("json", "logfmt", "syslog5424", "syslog3164", "container", "text", "java", "container-local")
TRACE_IN_LOGS = ("record", "text", "mixed", "none")
LANGUAGES = ("java", "go", "python", "node", "dotnet")
PRESETS = ("shop", "large")
_Z99 = 2.3263478740408408  # standard normal 99th percentile


class TopologyError(ValueError):
    """The topology file is inconsistent; the message says where."""


@dataclass(slots=True, eq=False)
class Call:
    """One outgoing call site inside an operation."""

    target: "Operation"
    fanout: tuple[int, int] = (1, 1)
    parallel: bool = False
    is_async: bool = False
    via: "Service | None" = None
    topic: str = ""
    timeout_ns: int = 0
    retries: int = 0
    critical: bool = True
    probability: float = 1.0


@dataclass(slots=True, eq=False)
class Operation:
    service: "Service"
    name: str
    mu: float  # lognormal parameters of self time, in nanoseconds
    sigma: float
    error_rate: float
    entry_weight: float = 0.0
    statement: str = ""
    calls: list[Call] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class Instance:
    service: "Service"
    id: str
    host: str
    index: int  # position in Topology.instances, used for per-instance arrays
    pid: int = 1


@dataclass(slots=True, eq=False)
class Service:
    name: str
    protocol: str
    language: str
    log_format: str
    trace_in_logs: str
    sets_status: bool
    sets_kind: bool
    version: str
    metric_interval_ns: int
    mem_base: float  # bytes
    mem_limit: float
    cpu_cores: float
    pool_to: str = ""
    pool_size: int = 0
    pool_timeout_ns: int = 0
    port: int = 8080
    instances: list[Instance] = field(default_factory=list)
    operations: dict[str, Operation] = field(default_factory=dict)

    @property
    def emits_spans(self) -> bool:
        """Stores and brokers are seen only through their callers' client spans."""
        return self.protocol in RPC_PROTOCOLS


@dataclass(slots=True, eq=False)
class Topology:
    name: str
    hosts: list[str]
    services: dict[str, Service]
    instances: list[Instance]
    entries: list[Operation]
    entry_weights: list[float]

    def instance(self, instance_id: str) -> Instance | None:
        for inst in self.instances:
            if inst.id == instance_id:
                return inst
        return None


_SIZE = {"b": 1, "kib": 1024, "mib": 1024**2, "gib": 1024**3, "kb": 1000, "mb": 1000**2, "gb": 1000**3}
_PORTS = {"http": 8080, "grpc": 50051, "postgresql": 5432, "mysql": 3306, "redis": 6379, "kafka": 9092}


def _size(text: object, where: str) -> float:
    s = str(text).strip().lower()
    num = s.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = s[len(num):] or "b"
    if unit not in _SIZE or not num:
        raise TopologyError(f"{where}: not a size: {text!r} (examples: 512MiB, 2GiB)")
    return float(num) * _SIZE[unit]


def _lognormal(spec: object, where: str) -> tuple[float, float]:
    if not (isinstance(spec, list) and len(spec) == 2):
        raise TopologyError(f"{where}: self must be [median, p99], e.g. [2ms, 20ms]")
    median, p99 = (parse_duration_ns(str(x), "ms") for x in spec)
    if not 0 < median <= p99:
        raise TopologyError(f"{where}: need 0 < median <= p99, got {spec}")
    return math.log(median), math.log(p99 / median) / _Z99


def _choice(doc: dict, key: str, default: str, allowed: tuple[str, ...], where: str) -> str:
    value = doc.get(key, default)
    if value not in allowed:
        raise TopologyError(f"{where}: {key} {value!r} is not one of {', '.join(allowed)}")
    return value


def parse_topology(doc: dict) -> Topology:
    """Build and check a Topology from the parsed YAML document."""
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        raise TopologyError("topology needs a `services:` mapping")
    defaults = doc.get("defaults") or {}
    hosts = [str(h) for h in doc.get("hosts") or ["node-1"]]
    services: dict[str, Service] = {}
    instances: list[Instance] = []
    raw_ops: list[tuple[Operation, list]] = []
    next_host = 0
    for sname, sdoc in doc["services"].items():
        where = f"service {sname}"
        sdoc = {**defaults, **(sdoc or {})}
        protocol = _choice(sdoc, "protocol", "http", RPC_PROTOCOLS + STORE_PROTOCOLS + BROKER_PROTOCOLS, where)
        mem = sdoc.get("memory") or {}
        pool = sdoc.get("pool") or {}
        svc = Service(
            name=sname, protocol=protocol,
            language=_choice(sdoc, "language", "go", LANGUAGES, where),
            log_format=_choice(sdoc, "log_format", "json", LOG_FORMATS, where),
            trace_in_logs=_choice(sdoc, "trace_in_logs", "record", TRACE_IN_LOGS, where),
            sets_status=bool(sdoc.get("sets_status", True)),
            sets_kind=bool(sdoc.get("sets_kind", True)),
            version=str(sdoc.get("version", "1.0.0")),
            metric_interval_ns=parse_duration_ns(str(sdoc.get("metric_interval", "10s"))),
            mem_base=_size(mem.get("base", "256MiB"), where),
            mem_limit=_size(mem.get("limit", "1GiB"), where),
            cpu_cores=float(sdoc.get("cpu_cores", 1.0)),
            pool_to=str(pool.get("to", "")), pool_size=int(pool.get("size", 0)),
            pool_timeout_ns=parse_duration_ns(str(pool.get("timeout", "1s"))),
            port=_PORTS[protocol],
        )
        if svc.metric_interval_ns <= 0:
            raise TopologyError(f"{where}: metric_interval must be positive")
        if not svc.mem_base < svc.mem_limit:
            raise TopologyError(f"{where}: memory base must be below the limit")
        placement = [str(h) for h in sdoc.get("hosts") or []]
        for h in placement:
            if h not in hosts:
                raise TopologyError(f"{where}: host {h!r} is not in hosts")
        for i in range(int(sdoc.get("instances", 1))):
            if placement:
                host = placement[i % len(placement)]
            else:
                host = hosts[next_host % len(hosts)]
                next_host += 1
            inst = Instance(svc, f"{sname}-{i + 1}", host, len(instances), pid=1000 + 7 * len(instances))
            svc.instances.append(inst)
            instances.append(inst)
        if not svc.instances:
            raise TopologyError(f"{where}: needs at least one instance")
        for oname, odoc in (sdoc.get("operations") or {}).items():
            owhere = f"{where} operation {oname}"
            odoc = odoc or {}
            mu, sigma = _lognormal(odoc.get("self", ["1ms", "10ms"]), owhere)
            op = Operation(svc, str(oname), mu, sigma,
                           error_rate=float(odoc.get("error_rate", sdoc.get("error_rate", 0.0))),
                           entry_weight=float(odoc.get("entry", 0)),
                           statement=str(odoc.get("statement", "")))
            svc.operations[op.name] = op
            raw_ops.append((op, odoc.get("calls") or []))
        if not svc.operations:
            raise TopologyError(f"{where}: needs at least one operation")
        services[sname] = svc
    for op, calls in raw_ops:
        for cdoc in calls:
            op.calls.append(_call(cdoc, op, services))
    for svc in services.values():
        if svc.pool_to and svc.pool_to not in services:
            raise TopologyError(f"service {svc.name}: pool target {svc.pool_to!r} is not a service")
    _check_acyclic(services)
    entries = [op for svc in services.values() for op in svc.operations.values() if op.entry_weight > 0]
    if not entries:
        raise TopologyError("no operation has an `entry` weight: nothing receives user requests")
    for op in entries:
        if not op.service.emits_spans:
            raise TopologyError(f"entry {op.service.name}.{op.name}: entries must be http or grpc services")
    return Topology(str(doc.get("name", "custom")), hosts, services, instances, entries,
                    [op.entry_weight for op in entries])


def _call(cdoc: dict, op: Operation, services: dict[str, Service]) -> Call:
    where = f"service {op.service.name} operation {op.name} call {cdoc!r}"
    to = str(cdoc.get("to", ""))
    sname, _, oname = to.partition(".")
    if sname not in services or oname not in services[sname].operations:
        raise TopologyError(f"{where}: `to` must name service.operation that exists")
    fan = cdoc.get("fanout", 1)
    fanout = (int(fan[0]), int(fan[1])) if isinstance(fan, list) else (int(fan), int(fan))
    if not 1 <= fanout[0] <= fanout[1]:
        raise TopologyError(f"{where}: fanout must be n or [min, max] with 1 <= min <= max")
    via = None
    is_async = bool(cdoc.get("async", False))
    if is_async:
        vname = str(cdoc.get("via", ""))
        if vname not in services or services[vname].protocol not in BROKER_PROTOCOLS:
            raise TopologyError(f"{where}: async calls need `via:` naming a kafka service")
        via = services[vname]
    target = services[sname].operations[oname]
    if is_async and not target.service.emits_spans:
        raise TopologyError(f"{where}: async consumers must be http or grpc services")
    return Call(target, fanout, bool(cdoc.get("parallel", False)), is_async, via,
                str(cdoc.get("topic", oname)),
                parse_duration_ns(str(cdoc["timeout"])) if "timeout" in cdoc else 0,
                int(cdoc.get("retries", 0)), bool(cdoc.get("critical", True)),
                float(cdoc.get("probability", 1.0)))


def _check_acyclic(services: dict[str, Service]) -> None:
    state: dict[int, int] = {}

    def visit(op: Operation, path: list[str]) -> None:
        key = id(op)
        if state.get(key) == 2:
            return
        if state.get(key) == 1:
            raise TopologyError("call cycle: " + " -> ".join(path + [f"{op.service.name}.{op.name}"]))
        state[key] = 1
        for c in op.calls:
            visit(c.target, path + [f"{op.service.name}.{op.name}"])
        state[key] = 2

    for svc in services.values():
        for op in svc.operations.values():
            visit(op, [])


def load_topology(preset: str | None = None, path: str | Path | None = None) -> Topology:
    """A built-in preset by name, or a topology YAML file."""
    if (preset is None) == (path is None):
        raise TopologyError("give exactly one of a preset name or a topology file")
    if preset is not None:
        if preset not in PRESETS:
            raise TopologyError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
        text = resources.files("pipeline.sim").joinpath(f"{preset}.yaml").read_text()
    else:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise TopologyError(f"topology file {path}: {exc}") from exc
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TopologyError(f"topology YAML: {exc}") from exc
    return parse_topology(doc)
