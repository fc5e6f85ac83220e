"""Request generation: traces and the logs written inside them, in true time.

One user request walks the call graph: each instrumented hop writes a server span (its own
self time split around its calls), each outgoing call a client (or producer) span on the
caller, and logs land inside the span that wrote them. Faults act through `InstanceFx` and
edge effects, so their marks appear where they would in production: the faulty instance's
self time, errors and logs; callers' client spans (network delay/loss, refused connections,
timeouts); pool waits as gaps inside the caller's server span.

Records are plain tuples appended to per-instance lists (layouts below); times are
converted to the emitting host's clock as they are written.
"""

from __future__ import annotations

import bisect
import random
from math import exp

from pipeline.sim import logtext
from pipeline.sim.attrs import AttrsCache, Shape
from pipeline.sim.faults import InstanceFx
from pipeline.sim.logtext import DEBUG, ERROR, INFO, SEV_NUMBER, SEV_TEXT, WARN, LogRenderer
from pipeline.sim.operations import (
    _DRAWS, ERR, OK, POOL, RESET, SPAN_CONSUMER, TIMEOUT, UNAVAILABLE, _Call, _Names, _Op, _server_pairs,
)
from pipeline.sim.topology import Instance, Topology

# Span tuple: (trace_id, span_id, parent_span_id, shape, start_ns, end_ns, status_code,
#              status_message, events | None); shape: attrs.Shape; events: [(time_ns, name, Attrs)].
# Log tuple:  (time_ns, observed_ns, severity_number, severity_text, body, trace_id, span_id,
#              true_trace_id, true_span_id).  Times are host-clock (emitted) nanoseconds.
_RETRYABLE = (TIMEOUT, UNAVAILABLE, RESET)
_NORMALS = 1 << 16
_ID_BATCH = 4096
_NET_NS = 250_000  # one-way in-cluster network latency, median
_RECORD, _TEXT, _NONE, _MIXED = "record", "text", "none", "mixed"  # where a service puts trace ids in logs
_HABITS = {h: h for h in (_RECORD, _TEXT, _NONE, _MIXED)}
_STACK_FORMATS = ("java", "text", "container", "json", "container-local")  # the rest keep one line per record


class InstStats:
    """What an instance did since its last metric sample."""

    __slots__ = ("n", "err", "busy_ns", "durs", "pool_busy_ns", "pool_wait_ns", "pool_timeouts")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.n = self.err = self.busy_ns = 0
        self.durs: list[int] = []  # request durations, ns
        self.pool_busy_ns = self.pool_wait_ns = self.pool_timeouts = 0


class TraceGenerator:
    """Generates requests for a slice of true time into per-instance record lists."""

    def __init__(self, topo: Topology, clocks: list[tuple[int, int, float]], rng: random.Random,
                 ips: list[str]) -> None:
        """clocks: per instance index, (offset_ns, epoch_ns, drift per ns) of its host (clock.py)."""
        self.topo = topo
        self.rng = rng
        self.clk = clocks
        self.ips = ips
        self.z = [rng.gauss(0.0, 1.0) for _ in range(_NORMALS)]
        render = LogRenderer()
        # Per instance: (format, trace-id habit, severity numbers and texts: zeros and '' if the
        # record carries none); habits are the module's own string objects, compared by identity.
        self.styles = []
        for i in topo.instances:
            fmt, carry, sets_severity = render.style(i)
            self.styles.append((fmt, _HABITS[carry], SEV_NUMBER if sets_severity else (0,) * 5,
                                SEV_TEXT if sets_severity else ("",) * 5))
        attrs = AttrsCache()
        names = {op: _Names(op) for svc in topo.services.values() for op in svc.operations.values()}
        self.ops = {op: _Op(op, names[op], attrs, self.z) for op in names}
        self.net = [int(_NET_NS * exp(0.3 * x)) for x in self.z[-_DRAWS:]]
        for op, o in self.ops.items():
            o.calls = [_Call(c, op.service, self.ops[c.target], names[c.target], attrs) for c in op.calls]
            for c in o.calls:  # most calls are one plain attempt: skip the wrapper for those
                c.run = self._call if c.pooled or c.retries else self._attempt
        self.attrs = attrs
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
        self._entries = [self.ops[op] for op in topo.entries]
        self._err_seq = 0
        self._ids: list[str] = []

    def _refill_ids(self) -> str:
        """Span ids come from one bulk draw: much cheaper than formatting one number per span."""
        h = self.rng.randbytes(8 * _ID_BATCH).hex()
        self._ids = [h[i:i + 16] for i in range(16, len(h), 16)]
        return h[:16]

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

    def log(self, inst: Instance, level: int, msg: str, t: int, trace: str = "", span: str = "",
            exc: str = "") -> None:
        """Write one log line at true time t from inst (its clock applies), inside span if given.

        Where the ids go follows the service's habit: the OTLP record, the text, a per-line mix,
        or nowhere; the log truth keeps the real ones either way.
        """
        k = inst.index
        off, ep, rate = self.clk[k]
        et = t + off + int((t - ep) * rate)
        fmt, carry, sev_n, sev_t = self.styles[k]
        if carry is _MIXED and trace:
            r = self.rng.random()
            carry = _RECORD if r < 0.4 else _TEXT if r < 0.8 else _NONE
        if carry is _RECORD:
            body = fmt(level, msg, et, "", span, exc)
            self.logs[k].append((et, et + 1_000_000 + self.rng.getrandbits(24), sev_n[level], sev_t[level],
                                 body, trace, span, trace, span))
        else:
            body = fmt(level, msg, et, trace if carry is _TEXT else "", span, exc)
            self.logs[k].append((et, et + 1_000_000 + self.rng.getrandbits(24), sev_n[level], sev_t[level],
                                 body, "", "", trace, span))

    # -- requests -----------------------------------------------------------------------------

    def requests(self, t0: int, t1: int, rps: float) -> int:
        """User requests arriving in [t0, t1) as a Poisson process; returns how many."""
        rng = self.rng
        expo = rng.expovariate
        mean_gap = 1e9 / rps
        t = t0 + int(expo(1.0) * mean_gap)
        entries, cum, total = self._entries, self._entry_cum, self._entry_total
        count = 0
        while t < t1:
            o = entries[bisect.bisect_right(cum, rng.random() * total)] if len(entries) > 1 else entries[0]
            insts = self.routable[o.svc.name]
            if insts:
                inst = insts[rng.getrandbits(16) % len(insts)]
                if not self.fx[inst.index].down:  # a dead instance writes nothing
                    self.serve(o, inst, "%032x" % rng.getrandbits(128), "", t, "")
                count += 1
            t += int(expo(1.0) * mean_gap) + 1
        return count

    def serve(self, o: _Op, inst: Instance, trace: str, parent: str, t0: int, topic: str) -> tuple[int, int]:
        """Run operation `o` on `inst` from true time t0; writes its span and logs. -> (end, outcome)."""
        rng = self.rng
        gb = rng.getrandbits
        k = inst.index
        fx = self.fx[k]
        ids = self._ids
        sid = ids.pop() if ids else self._refill_ids()
        own = o.draws[gb(12)] * fx.factor
        if fx.slow_ns:
            own += fx.slow_ns * exp(0.25 * self.z[gb(16)])
        t = t0 + int(own * 0.6)
        outcome = OK
        cause = ""
        for c in o.calls:
            if c.simple:  # the common case: one synchronous call, always made
                t, out, why = c.run(c, inst, trace, sid, t)
                if out and c.critical:
                    outcome, cause = ERR, why
                    break
                continue
            if c.prob < 1.0 and rng.random() >= c.prob:
                continue
            fail = None
            if c.is_async:
                t, out, why = self._publish(c, inst, trace, sid, t)
                if out:
                    fail = why
            elif c.lo == c.hi == 1:
                t, out, why = c.run(c, inst, trace, sid, t)
                if out:
                    fail = why
            else:
                n = c.lo if c.lo == c.hi else c.lo + gb(16) % (c.hi - c.lo + 1)
                if c.parallel:
                    end = t
                    for _ in range(n):
                        e, out, why = c.run(c, inst, trace, sid, t)
                        if e > end:
                            end = e
                        if out and fail is None:
                            fail = why
                    t = end
                else:
                    for _ in range(n):
                        t, out, why = c.run(c, inst, trace, sid, t)
                        if out:
                            fail = why
                            break
            if fail is not None and c.critical:
                outcome, cause = ERR, fail
                break
        exc = None
        if not outcome:
            p = o.err + fx.err_rate
            if p and rng.random() < p:
                outcome = ERR
                self._err_seq += 1
                kind = fx.err_kind if fx.err_rate and rng.random() * p < fx.err_rate else "error"
                exc = logtext.exception(inst, kind, 100 + self._err_seq % 900)
        post = int(own * 0.4)
        end = t + post + 1
        st = self.stats[k]
        st.n += 1
        st.busy_ns += own
        st.durs.append(end - t0)
        off, ep, rate = self.clk[k]
        if not outcome and not topic:  # the common case, kept short
            self.spans[k].append((trace, sid, parent, o.ok_shape, t0 + off + int((t0 - ep) * rate),
                                  end + off + int((end - ep) * rate), 0, "", None))
            self._handled(o, inst, trace, sid, t0, end, own)
            return end, OK
        events = None
        status, smsg = 0, ""
        if outcome:
            st.err += 1
            if o.sets_status:
                status = 2
                if exc is not None:
                    smsg = f"{exc[0]}: {exc[1]}"
                    te = t + post // 2
                    events = [(te + off + int((te - ep) * rate), "exception", self.attrs.get(
                        ("x", exc[0], exc[1], inst.id),
                        lambda: (("exception.type", exc[0]), ("exception.message", exc[1]),
                                 ("exception.stacktrace", exc[2]))))]
                else:
                    smsg = cause
        if topic:
            shape = o.consumer_shapes.get(topic)
            if shape is None:
                shape = o.consumer_shapes[topic] = Shape(f"{topic} process", SPAN_CONSUMER if o.server_kind else 0,
                                                         self.attrs.get(("m", topic), lambda: _server_pairs(
                                                             None, o.op, OK, topic)))
        else:
            shape = o.shapes[outcome]
        self.spans[k].append((trace, sid, parent, shape, t0 + off + int((t0 - ep) * rate),
                              end + off + int((end - ep) * rate), status, smsg, events))
        # One line per request from the handler, inside the server span.
        if exc is not None:
            self.log(inst, ERROR, f"{o.server} failed: {exc[0]}: {exc[1]}", t + post // 2, trace, sid,
                     exc[2] if inst.service.log_format in _STACK_FORMATS else "")
        elif outcome:
            self.log(inst, ERROR, f"{o.server} failed: {cause}", end - 1, trace, sid)
        else:
            self._handled(o, inst, trace, sid, t0, end, own)
        return end, outcome

    def _handled(self, o: _Op, inst: Instance, trace: str, sid: str, t0: int, end: int, own: float) -> None:
        """The handler's line for a request that succeeded: mostly its completion, sometimes a debug line;
        under a silent fault (a changed return value, a swallowed exception) another line instead."""
        gb = self.rng.getrandbits
        fx = self.fx[inst.index]
        if fx.silent and self.rng.random() < fx.silent_rate:
            level, msg = logtext.silent_fault_line(fx.silent, inst.service.language, o.server, gb(20))
            self.log(inst, level, msg, end - 1, trace, sid)
            return
        if gb(3):
            self.log(inst, INFO, f"{o.server} completed in {(end - t0) / 1e6:.1f}ms items={gb(5)}",
                     end - 1, trace, sid)
        else:
            self.log(inst, DEBUG, f"{o.server} cache lookup key={gb(20):x} hit={gb(1) == 1}",
                     t0 + int(own * 0.3), trace, sid)

    def _call(self, c: _Call, inst: Instance, trace: str, parent: str, t: int) -> tuple[int, int, str]:
        """A call that needs a pooled connection first, or may be retried (see _Call.run)."""
        if c.pooled:
            caller = inst.service
            st = self.stats[inst.index]
            if self.fx[inst.index].pool_exhausted:
                limit = caller.pool_timeout_ns
                wait = int(limit * 0.75 * exp(0.45 * self.z[self.rng.getrandbits(16)]))
                if wait >= limit:
                    st.pool_timeouts += 1
                    st.pool_wait_ns += limit
                    callee = c.target.svc.name
                    cause = logtext.call_error(caller.language, "pool", callee, "", limit // 1_000_000)
                    self.log(inst, ERROR, f"could not get a {callee} connection: {cause}", t + limit, trace, parent)
                    return t + limit, POOL, cause
                st.pool_wait_ns += wait
                t += wait
            else:
                t += 20_000 + self.rng.getrandbits(14)
        start = t
        end, outcome, cause = self._attempt(c, inst, trace, parent, t)
        attempt, attempts = 1, c.retries + 1
        while outcome in _RETRYABLE and attempt < attempts:
            self.log(inst, WARN, f"call to {c.target.svc.name} failed, retrying ({attempt}/{attempts}): {cause}",
                     end, trace, parent)
            end, outcome, cause = self._attempt(c, inst, trace, parent, end + 50_000_000 * attempt)
            attempt += 1
        if outcome and c.retries:
            self.log(inst, ERROR if c.critical else WARN, f"call to {c.target.svc.name} failed: {cause}",
                     end, trace, parent)
        if c.pooled:
            self.stats[inst.index].pool_busy_ns += end - start
        return end, outcome, cause

    def _attempt(self, c: _Call, inst: Instance, trace: str, parent: str, t: int) -> tuple[int, int, str]:
        """One try of a synchronous call: the client span, and the callee's work. -> (end, outcome, cause)."""
        target = c.target
        csvc = target.svc
        gb = self.rng.getrandbits
        ids = self._ids
        sid = ids.pop() if ids else self._refill_ids()
        insts = self.routable[csvc.name]
        if not insts:
            end, outcome = t + 150_000 + gb(17), UNAVAILABLE
            cause = logtext.call_error(inst.service.language, "unavailable", csvc.name, "", 0)
        else:
            callee = insts[gb(16) % len(insts)] if len(insts) > 1 else insts[0]
            cfx = self.fx[callee.index]
            if cfx.down:
                end, outcome = t + int(300_000 * exp(0.5 * self.z[gb(16)])), UNAVAILABLE
                cause = logtext.call_error(inst.service.language, "refused", csvc.name, self.ips[callee.index], 0)
            else:
                net = self.net[gb(12)]
                extra, reset = 0, False
                edge = self.edges.get((inst.service.name, csvc.name)) if self.edges else None
                if edge is not None:
                    extra, reset = self._edge_delay(edge)
                if reset:
                    end, outcome = t + net + extra, RESET
                    cause = logtext.call_error(inst.service.language, "reset", csvc.name, self.ips[callee.index], 0)
                elif target.emits:
                    half = extra // 2
                    end, outcome = self.serve(target, callee, trace, sid, t + net + half, "")
                    end += net + extra - half
                    cause = f"{csvc.name} responded {500 if target.is_http else 'INTERNAL'}" if outcome else ""
                else:
                    dur = target.draws[gb(12)] * cfx.factor
                    if cfx.slow_ns:
                        dur += cfx.slow_ns * exp(0.25 * self.z[gb(16)])
                    end = t + 2 * net + extra + int(dur)
                    outcome, cause = OK, ""
                    cst = self.stats[callee.index]
                    cst.n += 1
                    cst.busy_ns += dur
                    cst.durs.append(int(dur))
                    p = target.err + cfx.err_rate
                    if p and self.rng.random() < p:
                        outcome = ERR
                        cause = f"{csvc.protocol} error executing {target.client}"
                        cst.err += 1
                if c.timeout and end - t > c.timeout:
                    end, outcome = t + c.timeout, TIMEOUT
                    cause = logtext.call_error(inst.service.language, "timeout", csvc.name, self.ips[callee.index],
                                               c.timeout // 1_000_000)
        k = inst.index
        off, ep, rate = self.clk[k]
        if outcome:
            self.spans[k].append((trace, sid, parent, c.shapes[outcome], t + off + int((t - ep) * rate),
                                  end + off + int((end - ep) * rate), 2 if c.sets_status else 0,
                                  cause if c.sets_status else "", None))
            if not c.retries:  # with retries, _call reports once it gives up
                self.log(inst, ERROR if c.critical else WARN, f"call to {csvc.name} failed: {cause}", end, trace,
                         parent)
        else:
            self.spans[k].append((trace, sid, parent, c.ok_shape, t + off + int((t - ep) * rate),
                                  end + off + int((end - ep) * rate), 0, "", None))
        return end, outcome, cause

    def _edge_delay(self, edge: tuple[int, float]) -> tuple[int, bool]:
        """Extra time a faulty edge adds to one call, and whether the connection was reset."""
        rng = self.rng
        delay, loss = edge
        extra = int(delay * (0.8 + 0.4 * rng.random())) if delay else 0
        reset = False
        if loss and rng.random() < loss:
            # TCP retransmission timeouts: 200 ms, doubling; the third loss resets.
            lost = 1 + rng.getrandbits(16) % 3
            extra += 200_000_000 * ((1 << lost) - 1)
            reset = lost == 3 and rng.getrandbits(1) == 1
        return extra, reset

    def _publish(self, c: _Call, inst: Instance, trace: str, parent: str, t: int) -> tuple[int, int, str]:
        """Hand a message to the broker (producer span); the consumer runs later in the same trace."""
        broker = c.via
        caller = inst.service
        gb = self.rng.getrandbits
        ids = self._ids
        sid = ids.pop() if ids else self._refill_ids()
        insts = self.routable[broker.name]
        bfx = self.fx[insts[0].index] if insts else None
        bop = next(iter(broker.operations.values()))
        if bfx is None or bfx.down:
            end, outcome = t + 300_000 + gb(18), UNAVAILABLE
            addr = self.ips[broker.instances[0].index]
            cause = logtext.call_error(caller.language, "refused", broker.name, addr, 0)
        else:
            end = t + int(self.ops[bop].draws[gb(12)] * bfx.factor)
            outcome, cause = OK, ""
            bst = self.stats[insts[0].index]
            bst.n += 1
            bst.durs.append(end - t)
            edge = self.edges.get((caller.name, broker.name)) if self.edges else None
            if edge is not None:  # a slow or lossy link to the broker delays the producer's ack
                delay, loss = edge
                end += int(delay * (0.8 + 0.4 * self.rng.random()))
                if loss and self.rng.random() < loss:
                    end += 200_000_000 * ((1 << (1 + gb(16) % 3)) - 1)
            consumers = self.routable[c.target.svc.name]
            if consumers:
                consumer = consumers[gb(16) % len(consumers)]
                if not self.fx[consumer.index].down:
                    lag = int(exp(16.1 + 0.8 * self.z[gb(16)]))  # ~10 ms median queueing
                    self.serve(c.target, consumer, trace, sid, end + lag, c.topic)
        if c.timeout and end - t > c.timeout:
            end, outcome = t + c.timeout, TIMEOUT
            cause = logtext.call_error(caller.language, "timeout", broker.name, "", c.timeout // 1_000_000)
        status, smsg = (2, cause) if outcome and caller.sets_status else (0, "")
        off, ep, rate = self.clk[inst.index]
        self.spans[inst.index].append((trace, sid, parent, c.producer_shapes[outcome],
                                       t + off + int((t - ep) * rate), end + off + int((end - ep) * rate),
                                       status, smsg, None))
        if outcome:
            self.log(inst, ERROR if c.critical else WARN, f"publish to {c.topic} failed: {cause}",
                     end, trace, parent)
        return end, outcome, cause
