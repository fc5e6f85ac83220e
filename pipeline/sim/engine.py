"""Request generation: traces and the logs written inside them, in true time.

One user request walks the call graph: each instrumented hop writes a server span (its own
self time split around its calls), each outgoing call a client (or producer) span on the
caller, and logs land inside the span that wrote them. Faults act through `InstanceFx` and
edge effects, so their marks appear where they would in production: the faulty instance's
self time, errors and logs; callers' client spans (network delay/loss, refused connections,
timeouts); pool waits as gaps inside the caller's server span.

Records are plain tuples appended to per-instance lists (see `SPAN`, `LOG` below); times are
converted to the emitting host's clock as they are written.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable

from pipeline.sim import logtext
from pipeline.sim.attrs import Attrs, AttrsCache
from pipeline.sim.faults import InstanceFx
from pipeline.sim.logtext import DEBUG, ERROR, INFO, WARN, LogRenderer
from pipeline.sim.topology import Call, Instance, Operation, Service, Topology

# Span tuple: (trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status_code,
#              status_message, attrs, events | None); events: [(time_ns, name, Attrs)].
# Log tuple:  (time_ns, observed_ns, severity_number, severity_text, body, trace_id, span_id,
#              true_trace_id, true_span_id).  Times are host-clock (emitted) nanoseconds.
SPAN_INTERNAL, SPAN_SERVER, SPAN_CLIENT, SPAN_PRODUCER, SPAN_CONSUMER = 1, 2, 3, 4, 5
OK, ERR, TIMEOUT, UNAVAILABLE, RESET, POOL = range(6)
_HTTP_CODE = (200, 500, 504, 503, 502, 500)
_GRPC_CODE = (0, 13, 4, 14, 14, 13)
_ERROR_TYPE = ("", "500", "timeout", "connection_refused", "connection_reset", "pool_timeout")
_RETRYABLE = (TIMEOUT, UNAVAILABLE, RESET)
_NORMALS = 1 << 16
_NET_NS = 250_000  # one-way in-cluster network latency, median


class InstStats:
    """What an instance did since its last metric sample."""

    __slots__ = ("n", "err", "busy_ns", "durs", "pool_busy_ns", "pool_wait_ns", "pool_waits", "pool_timeouts")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.n = self.err = self.busy_ns = 0
        self.durs: list[float] = []
        self.pool_busy_ns = self.pool_wait_ns = self.pool_waits = self.pool_timeouts = 0


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


class TraceGenerator:
    """Generates requests for a slice of true time into per-instance record lists."""

    def __init__(self, topo: Topology, emitters: list[Callable[[int], int]], rng: random.Random,
                 ips: list[str]) -> None:
        self.topo = topo
        self.rng = rng
        self.emit = emitters  # per instance index: true ns -> host-clock ns
        self.ips = ips
        self.z = [rng.gauss(0.0, 1.0) for _ in range(_NORMALS)]
        self.render = LogRenderer(rng)
        self.attrs = AttrsCache()
        self.names = {op: _Names(op) for svc in topo.services.values() for op in svc.operations.values()}
        self.stats = [InstStats() for _ in topo.instances]
        n = len(topo.instances)
        self.spans: list[list[tuple]] = [[] for _ in range(n)]
        self.logs: list[list[tuple]] = [[] for _ in range(n)]
        self.fx: list[InstanceFx] = [InstanceFx() for _ in range(n)]
        self.edges: dict[tuple[str, str], tuple[int, float]] = {}
        self.routable: dict[str, list[Instance]] = {}
        cum, total = [], 0.0
        for w in topo.entry_weights:
            total += w
            cum.append(total)
        self._entry_cum, self._entry_total = cum, total
        self._err_seq = 0

    def set_effects(self, fx: list[InstanceFx], edges: dict[tuple[str, str], tuple[int, float]]) -> None:
        self.fx, self.edges = fx, edges
        self.routable = {name: [i for i in svc.instances if fx[i.index].down != 2]
                         for name, svc in self.topo.services.items()}

    def take(self) -> tuple[list[list[tuple]], list[list[tuple]]]:
        """Hand over the records generated so far (per instance) and start fresh lists."""
        spans, logs = self.spans, self.logs
        n = len(self.topo.instances)
        self.spans, self.logs = [[] for _ in range(n)], [[] for _ in range(n)]
        return spans, logs

    # -- helpers ------------------------------------------------------------------------------

    def _lognormal(self, mu: float, sigma: float) -> float:
        return math.exp(mu + sigma * self.z[self.rng.getrandbits(16)])

    def log(self, inst: Instance, level: int, msg: str, t: int, trace: str = "", span: str = "",
            exc: str = "") -> None:
        """Write one log line at true time t from inst (its clock applies)."""
        et = self.emit[inst.index](t)
        body, sn, st, rt, rs = self.render.render(inst, level, msg, et, trace, span, exc)
        self.logs[inst.index].append((et, et + 1_000_000 + (self.rng.getrandbits(24)), sn, st, body, rt, rs,
                                      trace, span))

    def _server_attrs(self, op: Operation, outcome: int, topic: str) -> Attrs:
        return self.attrs.get(("s", op, outcome, topic), lambda: _server_pairs(self.names[op], op, outcome, topic))

    def _client_attrs(self, op: Operation, outcome: int, caller: Service) -> Attrs:
        return self.attrs.get(("c", op, outcome, caller.sets_status),
                              lambda: _client_pairs(self.names[op], op, outcome, caller.sets_status))

    # -- requests -----------------------------------------------------------------------------

    def requests(self, t0: int, t1: int, rps: float) -> int:
        """User requests arriving in [t0, t1) as a Poisson process; returns how many."""
        rng = self.rng
        mean_gap = 1e9 / rps
        t = t0 + int(rng.expovariate(1.0) * mean_gap)
        entries, cum, total = self.topo.entries, self._entry_cum, self._entry_total
        count = 0
        while t < t1:
            op = entries[bisect.bisect_right(cum, rng.random() * total)] if len(entries) > 1 else entries[0]
            insts = self.routable[op.service.name]
            if insts:
                inst = insts[rng.getrandbits(16) % len(insts)]
                if not self.fx[inst.index].down:  # a dead instance writes nothing
                    self.serve(op, inst, "%032x" % rng.getrandbits(128), "", t, "")
                count += 1
            t += int(rng.expovariate(1.0) * mean_gap) + 1
        return count

    def serve(self, op: Operation, inst: Instance, trace: str, parent: str, t0: int, topic: str) -> tuple[int, int]:
        """Run `op` on `inst` from true time t0; returns (end, outcome) and writes its span and logs."""
        rng = self.rng
        gb = rng.getrandbits
        z = self.z
        fx = self.fx[inst.index]
        svc = op.service
        sid = "%016x" % gb(64)
        own = math.exp(op.mu + op.sigma * z[gb(16)]) * fx.factor
        if fx.slow_ns:
            own += fx.slow_ns * math.exp(0.25 * z[gb(16)])
        t = t0 + int(own * 0.6)
        outcome = OK
        cause = ""
        for call in op.calls:
            if call.probability < 1.0 and rng.random() >= call.probability:
                continue
            lo, hi = call.fanout
            n = lo if lo == hi else lo + gb(16) % (hi - lo + 1)
            fail = None
            if call.is_async:
                t, o, c = self._publish(call, inst, trace, sid, t)
                if o:
                    fail = c
            elif call.parallel and n > 1:
                end = t
                for _ in range(n):
                    e, o, c = self._call(call, inst, trace, sid, t)
                    if e > end:
                        end = e
                    if o and fail is None:
                        fail = c
                t = end
            else:
                for _ in range(n):
                    t, o, c = self._call(call, inst, trace, sid, t)
                    if o:
                        fail = c
                        break
            if fail is not None and call.critical:
                outcome, cause = ERR, fail
                break
        exc = None
        if not outcome:
            p = op.error_rate + fx.err_rate
            if p and rng.random() < p:
                outcome = ERR
                self._err_seq += 1
                kind = fx.err_kind if fx.err_rate and rng.random() * p < fx.err_rate else "error"
                exc = logtext.exception(inst, kind, 100 + self._err_seq % 900)
        post = int(own * 0.4)
        end = t + post + 1
        st = self.stats[inst.index]
        st.n += 1
        st.busy_ns += own
        st.durs.append((end - t0) / 1e6)
        if outcome:
            st.err += 1
        names = self.names[op]
        emit = self.emit[inst.index]
        es = emit(end)
        events = None
        status, smsg = 0, ""
        if outcome and svc.sets_status:
            status = 2
            if exc is not None:
                smsg = f"{exc[0]}: {exc[1]}"
                events = [(emit(t + post // 2), "exception", self.attrs.get(
                    ("x", exc[0], exc[1], inst.id),
                    lambda: (("exception.type", exc[0]), ("exception.message", exc[1]),
                             ("exception.stacktrace", exc[2]))))]
            else:
                smsg = cause
        if topic:
            name, kind = f"{topic} process", SPAN_CONSUMER
        else:
            name, kind = names.server, SPAN_SERVER
        if not svc.sets_kind:
            kind = 0
        self.spans[inst.index].append((trace, sid, parent, name, kind, emit(t0), es, status, smsg,
                                       self._server_attrs(op, outcome, topic), events))
        # One line per request from the handler, inside the server span.
        if exc is not None:
            self.log(inst, ERROR, f"{names.server} failed: {exc[0]}: {exc[1]}", t + post // 2, trace, sid,
                     exc[2] if svc.log_format in ("java", "text", "container", "json") else "")
        elif outcome:
            self.log(inst, ERROR, f"{names.server} failed: {cause}", end - 1, trace, sid)
        elif gb(3):  # most successful requests log their completion
            self.log(inst, INFO, f"{names.server} completed in {(end - t0) / 1e6:.1f}ms items={gb(5)}",
                     end - 1, trace, sid)
        else:
            self.log(inst, DEBUG, f"{names.server} cache lookup key={gb(20):x} hit={gb(1) == 1}",
                     t0 + int(own * 0.3), trace, sid)
        return end, outcome

    def _call(self, call: Call, inst: Instance, trace: str, parent: str, t: int) -> tuple[int, int, str]:
        """A synchronous call from inst (with retries); writes client spans. -> (end, outcome, cause)."""
        csvc = call.target.service
        caller = inst.service
        gb = self.rng.getrandbits
        z = self.z
        st = self.stats[inst.index]
        pooled = caller.pool_to == csvc.name
        if pooled:
            if self.fx[inst.index].pool_exhausted:
                limit = caller.pool_timeout_ns
                wait = int(limit * 0.75 * math.exp(0.45 * z[gb(16)]))
                st.pool_waits += 1
                if wait >= limit:
                    st.pool_timeouts += 1
                    st.pool_wait_ns += limit
                    cause = logtext.call_error(caller.language, "pool", csvc.name, "", limit // 1_000_000)
                    self.log(inst, ERROR, f"could not get a {csvc.name} connection: {cause}", t + limit, trace, parent)
                    return t + limit, POOL, cause
                st.pool_wait_ns += wait
                t += wait
            else:
                t += 20_000 + gb(14)
        attempts = call.retries + 1
        start = t
        for attempt in range(1, attempts + 1):
            end, outcome, cause = self._attempt(call, inst, trace, parent, t)
            if outcome in _RETRYABLE and attempt < attempts:
                self.log(inst, WARN, f"call to {csvc.name} failed, retrying ({attempt}/{attempts}): {cause}",
                         end, trace, parent)
                t = end + 50_000_000 * attempt
                continue
            break
        if outcome:
            self.log(inst, ERROR if call.critical else WARN, f"call to {csvc.name} failed: {cause}", end, trace, parent)
        if pooled:
            st.pool_busy_ns += end - start
        return end, outcome, cause

    def _attempt(self, call: Call, inst: Instance, trace: str, parent: str, t: int) -> tuple[int, int, str]:
        target = call.target
        csvc = target.service
        caller = inst.service
        rng = self.rng
        gb = rng.getrandbits
        z = self.z
        sid = "%016x" % gb(64)
        insts = self.routable[csvc.name]
        cause = ""
        if not insts:
            end, outcome = t + 150_000 + gb(17), UNAVAILABLE
            cause = logtext.call_error(caller.language, "unavailable", csvc.name, "", 0)
        else:
            callee = insts[gb(16) % len(insts)] if len(insts) > 1 else insts[0]
            cfx = self.fx[callee.index]
            addr = self.ips[callee.index]
            if cfx.down:
                end, outcome = t + int(300_000 * math.exp(0.5 * z[gb(16)])), UNAVAILABLE
                cause = logtext.call_error(caller.language, "refused", csvc.name, addr, 0)
            else:
                net = int(_NET_NS * math.exp(0.3 * z[gb(16)]))
                extra = 0
                reset = False
                if self.edges:
                    edge = self.edges.get((caller.name, csvc.name))
                    if edge is not None:
                        delay, loss = edge
                        if delay:
                            extra += int(delay * (0.8 + 0.4 * rng.random()))
                        if loss and rng.random() < loss:
                            # TCP retransmission timeouts: 200 ms, doubling; the third loss resets.
                            lost = 1 + gb(16) % 3
                            extra += 200_000_000 * ((1 << lost) - 1)
                            reset = lost == 3 and gb(1) == 1
                if reset:
                    end, outcome = t + net + extra, RESET
                    cause = logtext.call_error(caller.language, "reset", csvc.name, addr, 0)
                elif csvc.emits_spans:
                    s_end, sub = self.serve(target, callee, trace, sid, t + net + extra // 2, "")
                    end = s_end + net + (extra - extra // 2)
                    outcome = ERR if sub else OK
                    if sub:
                        cause = f"{csvc.name} responded {_HTTP_CODE[ERR] if csvc.protocol == 'http' else 'INTERNAL'}"
                else:
                    dur = math.exp(target.mu + target.sigma * z[gb(16)]) * cfx.factor
                    if cfx.slow_ns:
                        dur += cfx.slow_ns * math.exp(0.25 * z[gb(16)])
                    end = t + 2 * net + extra + int(dur)
                    outcome = OK
                    p = target.error_rate + cfx.err_rate
                    if p and rng.random() < p:
                        outcome = ERR
                        cause = f"{csvc.protocol} error executing {self.names[target].client}"
                    cst = self.stats[callee.index]
                    cst.n += 1
                    cst.busy_ns += dur
                    cst.durs.append(dur / 1e6)
                    if outcome:
                        cst.err += 1
                if call.timeout_ns and end - t > call.timeout_ns:
                    end, outcome = t + call.timeout_ns, TIMEOUT
                    cause = logtext.call_error(caller.language, "timeout", csvc.name, addr,
                                               call.timeout_ns // 1_000_000)
        status, smsg = (2, cause) if outcome and caller.sets_status else (0, "")
        kind = SPAN_CLIENT if caller.sets_kind else 0
        emit = self.emit[inst.index]
        self.spans[inst.index].append((trace, sid, parent, self.names[target].client, kind, emit(t), emit(end),
                                       status, smsg, self._client_attrs(target, outcome, caller), None))
        return end, outcome, cause

    def _publish(self, call: Call, inst: Instance, trace: str, parent: str, t: int) -> tuple[int, int, str]:
        """Hand a message to the broker (producer span); the consumer runs later in the same trace."""
        broker = call.via
        caller = inst.service
        gb = self.rng.getrandbits
        sid = "%016x" % gb(64)
        insts = self.routable[broker.name]
        bfx = self.fx[insts[0].index] if insts else None
        bop = next(iter(broker.operations.values()))
        if bfx is None or bfx.down:
            end, outcome = t + 300_000 + gb(18), UNAVAILABLE
            addr = self.ips[broker.instances[0].index]
            cause = logtext.call_error(caller.language, "refused", broker.name, addr, 0)
        else:
            end = t + int(self._lognormal(bop.mu, bop.sigma) * bfx.factor)
            outcome, cause = OK, ""
            bst = self.stats[insts[0].index]
            bst.n += 1
            bst.durs.append((end - t) / 1e6)
            consumers = self.routable[call.target.service.name]
            if consumers:
                consumer = consumers[gb(16) % len(consumers)]
                if not self.fx[consumer.index].down:
                    lag = int(self._lognormal(16.1, 0.8))  # ~10 ms median queueing
                    self.serve(call.target, consumer, trace, sid, end + lag, call.topic)
        if call.timeout_ns and end - t > call.timeout_ns:
            end, outcome = t + call.timeout_ns, TIMEOUT
            cause = logtext.call_error(caller.language, "timeout", broker.name, "", call.timeout_ns // 1_000_000)
        status, smsg = (2, cause) if outcome and caller.sets_status else (0, "")
        emit = self.emit[inst.index]
        attrs = self.attrs.get(("p", call.topic, outcome, caller.sets_status), lambda: _producer_pairs(
            call.topic, broker.name, outcome, caller.sets_status))
        self.spans[inst.index].append((trace, sid, parent, f"{call.topic} publish",
                                       SPAN_PRODUCER if caller.sets_kind else 0, emit(t), emit(end),
                                       status, smsg, attrs, None))
        if outcome:
            self.log(inst, ERROR if call.critical else WARN, f"publish to {call.topic} failed: {cause}",
                     end, trace, parent)
        return end, outcome, cause


def _server_pairs(names: _Names, op: Operation, outcome: int, topic: str) -> list[tuple[str, object]]:
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
