"""What the correlation engine holds, and for how long (issue 19: memory per worker < 2 GiB).

- The field pool (pipeline/correlate/field_pool.py) keeps one copy of repeated values of
  buffered records and changes no value: records compare equal to untouched copies, values
  that differ are never replaced, rows are those of the same records fed without sharing.
- Bytes per buffered record, on shop traffic read the worker's way (by-trace wire), stay
  well under what they were before the pool (1,933 bytes).
- The bound docs/architecture.md "Memory" states: on a fresh engine, traces emitted before
  their clock-skew table is decided stay pending (the ledger holds their messages) until the
  first mature table is final, (skew_mature_epochs + 1) epochs + max_lateness + max_skew of
  event time after the first pair; after that only the traces inside the inactivity gap are
  pending, and traces kept for amendments are those of the last lateness bound + gap.
"""

from __future__ import annotations

import copy
import gc
import tracemalloc

from benchmarks.harness.synthetic import S, generate
from pipeline.config import Settings
from pipeline.correlate import CorrelateConfig, Correlator
from pipeline.correlate.field_pool import FieldPool
from pipeline.ingest.stage import Ingestor
from pipeline.model import LogRecord, Span
from pipeline.shuffle.route import by_trace_messages
from pipeline.shuffle.wirecheck import read_by_trace
from pipeline.sim import SimConfig, Simulation


def span(i: int, **kw) -> Span:
    base = dict(trace_id=f"{i // 3:032x}", span_id=f"{i:016x}", parent_span_id="", name="GET /cart", start_ns=i,
                end_ns=i + 10, service="cart", instance="cart-1", host="node-1",
                attributes={"http.route": "/cart", "http.response.status_code": "200"},
                resource={"service.name": "cart", "service.version": "1.0.0"})
    base.update(kw)
    return Span(**base)


def test_the_pool_shares_equal_values_and_changes_none():
    spans = [span(i) for i in range(6)]
    spans.append(span(6, attributes={"http.route": "/cart", "http.response.status_code": "500"}))
    spans.append(span(7, resource={"service.name": "cart", "service.version": "2.0.0"}))
    logs = [LogRecord(time_ns=i, body=f"line {i}", trace_id=f"{i // 3:032x}", service="cart", instance="cart-1",
                      host="node-1", severity_text="INFO", format="json", template="line <*>",
                      resource={"service.name": "cart", "service.version": "1.0.0"}, attributes={"stream": "stdout"})
            for i in range(4)]
    before_spans, before_logs = copy.deepcopy(spans), copy.deepcopy(logs)
    pool = FieldPool()
    pool.share_spans(spans)
    pool.share_logs(logs)
    assert spans == before_spans and logs == before_logs  # no value changed
    assert all(s.resource is spans[0].resource for s in spans[1:7])
    assert all(s.attributes is spans[0].attributes for s in spans[1:6])
    assert spans[6].attributes["http.response.status_code"] == "500"  # differs: kept its own
    assert spans[7].resource["service.version"] == "2.0.0"
    assert spans[1].trace_id is spans[0].trace_id and spans[1].host is spans[0].host
    # span 7's resource differed, so it became the kept one; the logs' first replaced it again
    assert all(r.resource is logs[0].resource and r.template is logs[0].template for r in logs[1:])


def shop_wire(seconds: float, rps: float = 20, seed: int = 5) -> list[bytes]:
    """The shop's spans and logs as the ingest agents re-key them (one partition)."""
    sim = Simulation(SimConfig(preset="shop", duration_ns=int(seconds * S), rps=rps, seed=seed,
                               encoding="otlp-proto", batch=64))
    ing = Ingestor(Settings())
    topic = {"traces": "otlp_spans", "logs": "otlp_logs"}
    out = []
    for signal, payload in sim.messages():
        if signal in topic:
            res = ing.process(topic[signal], [payload], [0])
            out += [v for _, v in by_trace_messages(res.spans, res.logs, 1)]
    return out


def test_rows_are_those_of_unshared_records_and_a_record_costs_under_900_bytes():
    wire = shop_wire(30)
    eng = Correlator(CorrelateConfig())
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for value in wire:
            spans, logs, _ = read_by_trace(value)
            eng.add(spans, logs)
        del spans, logs
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    n = eng.buffered_records()
    assert n > 5_000
    assert held / n < 900, f"{held / n:.0f} bytes per buffered record"  # 1,933 before the pool
    # The same records fed with the pool switched off (a pool that shares nothing).
    plain = Correlator(CorrelateConfig())
    plain._pool = _NoPool()
    for value in wire:
        spans, logs, _ = read_by_trace(value)
        plain.add(spans, logs)
    assert eng.flush_all() == plain.flush_all()


class _NoPool:
    def share_spans(self, spans: list) -> None:
        pass

    def share_logs(self, logs: list) -> None:
        pass


def by_second(items: list, seconds: int):
    """(second, spans, logs): the arrivals of each second of event time, in order."""
    t0, i = items[0][0], 0
    for step in range(1, seconds + 1):
        spans, logs = [], []
        while i < len(items) and items[i][0] < t0 + step * S:
            (spans if items[i][1] == "span" else logs).append(items[i][2])
            i += 1
        yield step, spans, logs


def test_what_the_engine_holds_is_bounded_cold_start_then_steady():
    cfg = CorrelateConfig()
    rate, seconds = 10, 600
    traffic = generate(rate * seconds, seed=3, rate_per_s=rate, with_metrics=False)
    items = traffic.arrival_order()
    eng = Correlator(cfg)
    cold_limit = ((cfg.skew_mature_epochs + 1) * cfg.skew_epoch_ns + cfg.max_lateness_ns + cfg.max_skew_ns) // S
    kept_limit = rate * (cfg.max_lateness_ns + cfg.inactivity_ns + 2 * cfg.skew_epoch_ns) // S
    peak_unsettled, settled_at = 0, None
    for step, spans, logs in by_second(items, seconds + 20):
        eng.add(spans, logs)
        eng.poll_columns()
        c = eng.counters()
        pending = [*eng._live.values(), *(t for k, t in eng._unsettled.items() if k not in eng._live)]
        oldest = max(((eng.watermark() - t.anchor) // S for t in pending), default=0)
        peak_unsettled = max(peak_unsettled, c["traces_unsettled"])
        if settled_at is None:
            assert oldest <= cold_limit + 2 * cfg.skew_epoch_ns // S, (step, oldest)
            if peak_unsettled and c["traces_unsettled"] == 0:
                settled_at = step
        else:  # steady: only the inactivity gap (plus clock skew) is pending
            assert c["traces_unsettled"] == 0
            assert oldest <= (cfg.inactivity_ns + 2 * cfg.max_skew_ns) // S, (step, oldest)
        assert c["traces_retained"] <= kept_limit, (step, c["traces_retained"])
    assert peak_unsettled > 0 and settled_at is not None
    assert cold_limit - 3 * cfg.skew_epoch_ns // S <= settled_at <= cold_limit + 2 * cfg.skew_epoch_ns // S


def run_rows(cfg: CorrelateConfig, items: list, seconds: int) -> tuple[list, int]:
    """Every row emitted feeding one second of arrivals per poll, and the most in one poll."""
    eng, rows, most = Correlator(cfg), [], 0
    for _, spans, logs in by_second(items, seconds):
        eng.add(spans, logs)
        got = eng.poll()
        most = max(most, len(got))
        rows += got
    rows += eng.flush_all()
    return rows, most


def test_the_cold_start_settle_goes_out_in_slices_with_the_same_rows():
    traffic = generate(10 * 420, seed=4, rate_per_s=10, with_metrics=False)
    items = traffic.arrival_order()
    whole, whole_most = run_rows(CorrelateConfig(poll_batch_records=1 << 40), items, 430)
    sliced, sliced_most = run_rows(CorrelateConfig(poll_batch_records=2_000), items, 430)
    per_trace = max(len(t) for t in _by_trace(whole).values())
    assert whole_most > 10_000  # minutes of multi-host traces re-emitted in one poll
    assert sliced_most <= 2_000 + 2 * per_trace + 200  # a slice, one trace over, and the poll's own
    # The same rows (the emission's watermark aside): same spans, versions and content.
    def content(rows: list) -> list:
        return sorted(str({**vars_of(r), "trace_complete_ns": 0}) for r in rows)
    assert content(whole) == content(sliced)


def _by_trace(rows: list) -> dict[str, list]:
    out: dict[str, list] = {}
    for r in rows:
        out.setdefault(r.trace_id, []).append(r)
    return out


def vars_of(row) -> dict:
    return {f: getattr(row, f) for f in row.__slots__}


def test_a_limited_final_flush_called_until_done_gives_every_row_once():
    wire = shop_wire(20)
    engines = [Correlator(CorrelateConfig()), Correlator(CorrelateConfig())]
    for value in wire:
        for eng in engines:
            spans, logs, _ = read_by_trace(value)
            eng.add(spans, logs)
    whole, sliced = engines
    rows = whole.flush_all()
    assert len(rows) > 3_000
    got, calls = [], 0
    while True:
        got += sliced.flush_columns(500).records()
        calls += 1
        if not sliced.unflushed():
            break
    assert calls > 5 and not whole.unflushed()
    assert sorted(map(str, got)) == sorted(map(str, rows))
