"""An operation's and a call site's constants, computed once per topology for the request
generator's hot loop (pipeline/sim/request_walk.py): span names, attribute shapes per outcome, and
the outcome codes they are indexed by."""

from __future__ import annotations

from math import exp

from pipeline.sim.attrs import AttrsCache, Shape
from pipeline.sim.topology import Call, Operation, Service

SPAN_SERVER, SPAN_CLIENT, SPAN_PRODUCER, SPAN_CONSUMER = 2, 3, 4, 5  # OTLP SpanKind
OK, ERR, TIMEOUT, UNAVAILABLE, RESET, POOL = range(6)  # a call's outcome
_HTTP_CODE = (200, 500, 504, 503, 502, 500)
_GRPC_CODE = (0, 13, 4, 14, 14, 13)
_ERROR_TYPE = ("", "500", "timeout", "connection_refused", "connection_reset", "pool_timeout")
_DRAWS = 1 << 12  # pre-drawn samples per distribution (indexed by 12 random bits)


class _Names:
    """Span names and address parts for an operation, computed once."""

    __slots__ = ("server", "client", "method", "route", "rpc_service")

    def __init__(self, op: Operation) -> None:
        svc = op.service
        head, _, rest = op.name.partition(" ")
        if svc.protocol == "http":
            if rest and head.isupper():
                self.method, self.route = head, rest
            else:
                self.method, self.route = "POST", "/" + _kebab(op.name)
            self.server = self.client = f"{self.method} {self.route}"
            self.rpc_service = ""
        elif svc.protocol == "grpc":
            self.method, self.route = "POST", ""
            self.rpc_service = f"shop.{svc.name}.{svc.name.capitalize()}Service"
            self.server = self.client = f"{self.rpc_service}/{op.name}"
        else:
            self.method = self.route = self.rpc_service = ""
            words = op.statement.split()
            table = ""
            for i, w in enumerate(words[:-1]):
                if w.upper() in ("FROM", "INTO", "UPDATE"):
                    table = words[i + 1]
                    break
            self.server = self.client = (f"{words[0]} {table}".strip() if words else op.name)


def _kebab(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i:
            out.append("-")
        out.append(ch.lower())
    return "".join(out)


class _Op:
    """An operation's constants, flattened for the hot loop."""

    __slots__ = ("op", "svc", "draws", "err", "calls", "server", "client", "shapes", "consumer_shapes",
                 "emits", "sets_status", "server_kind", "is_http", "ok_shape")

    def __init__(self, op: Operation, names: _Names, attrs: AttrsCache, z: list[float]) -> None:
        svc = op.service
        self.op, self.svc, self.err = op, svc, op.error_rate
        # Self-time samples drawn once; requests pick one at random (cheaper than exp per span).
        self.draws = [exp(op.mu + op.sigma * x) for x in z[:_DRAWS]]
        self.server, self.client = names.server, names.client
        self.emits, self.sets_status = svc.emits_spans, svc.sets_status
        self.server_kind = SPAN_SERVER if svc.sets_kind else 0
        self.shapes = [Shape(names.server, self.server_kind,
                             attrs.get(("s", op, o), lambda o=o: _server_pairs(names, op, o, ""))) for o in range(6)]
        self.ok_shape = self.shapes[OK]
        self.consumer_shapes: dict[str, Shape] = {}
        self.is_http = svc.protocol == "http"
        self.calls: list[_Call] = []


class _Call:
    """A call site with everything the caller needs precomputed."""

    __slots__ = ("target", "lo", "hi", "parallel", "is_async", "via", "topic", "timeout", "retries",
                 "critical", "prob", "pooled", "shapes", "ok_shape", "producer_shapes", "run", "sets_status",
                 "simple")

    def __init__(self, call: Call, caller: Service, target: _Op, names: _Names, attrs: AttrsCache) -> None:
        op = call.target
        detailed = caller.sets_status
        self.target, (self.lo, self.hi) = target, call.fanout
        self.parallel, self.is_async, self.via, self.topic = call.parallel, call.is_async, call.via, call.topic
        self.timeout, self.retries, self.critical, self.prob = call.timeout_ns, call.retries, call.critical, call.probability
        self.pooled = caller.pool_to == op.service.name
        client_kind = SPAN_CLIENT if caller.sets_kind else 0
        self.shapes = [Shape(names.client, client_kind, attrs.get(
            ("c", op, o, detailed), lambda o=o: _client_pairs(names, op, o, detailed))) for o in range(6)]
        self.ok_shape, self.sets_status = self.shapes[OK], detailed
        self.simple = not self.is_async and self.lo == self.hi == 1 and self.prob >= 1.0
        producer_kind = SPAN_PRODUCER if caller.sets_kind else 0
        self.producer_shapes = [Shape(f"{call.topic} publish", producer_kind, attrs.get(
            ("p", call.topic, o, detailed), lambda o=o: _producer_pairs(
                call.topic, call.via.name if call.via else "", o, detailed))) for o in range(6)]


def _server_pairs(names: _Names | None, op: Operation, outcome: int, topic: str) -> list[tuple[str, object]]:
    svc = op.service
    if topic:
        return [("messaging.system", "kafka"), ("messaging.destination.name", topic),
                ("messaging.operation", "process")]
    if svc.protocol == "http":
        if not svc.sets_status:
            return [("http.route", names.route)]
        return [("http.request.method", names.method), ("http.route", names.route), ("url.scheme", "http"),
                ("server.port", svc.port), ("http.response.status_code", _HTTP_CODE[outcome])]
    if not svc.sets_status:
        return [("rpc.method", op.name)]
    return [("rpc.system", "grpc"), ("rpc.service", names.rpc_service), ("rpc.method", op.name),
            ("rpc.grpc.status_code", _GRPC_CODE[outcome])]


def _client_pairs(names: _Names, op: Operation, outcome: int, detailed: bool) -> list[tuple[str, object]]:
    svc = op.service
    if svc.protocol == "http":
        pairs = [("http.request.method", names.method), ("server.address", svc.name), ("server.port", svc.port),
                 ("url.full", f"http://{svc.name}:{svc.port}{names.route}")]
        if detailed and outcome in (OK, ERR):
            pairs.append(("http.response.status_code", _HTTP_CODE[outcome]))
    elif svc.protocol == "grpc":
        pairs = [("rpc.system", "grpc"), ("rpc.service", names.rpc_service), ("rpc.method", op.name),
                 ("server.address", svc.name), ("server.port", svc.port)]
        if detailed:
            pairs.append(("rpc.grpc.status_code", _GRPC_CODE[outcome]))
    else:
        pairs = [("db.system", svc.protocol), ("db.statement", op.statement), ("server.address", svc.name),
                 ("server.port", svc.port)]
        if svc.protocol != "redis":
            pairs.insert(1, ("db.name", "shop"))
    if detailed and outcome:
        pairs.append(("error.type", _ERROR_TYPE[outcome]))
    return pairs


def _producer_pairs(topic: str, broker: str, outcome: int, detailed: bool) -> list[tuple[str, object]]:
    pairs = [("messaging.system", "kafka"), ("messaging.destination.name", topic),
             ("messaging.operation", "publish"), ("server.address", broker)]
    if detailed and outcome:
        pairs.append(("error.type", _ERROR_TYPE[outcome]))
    return pairs
