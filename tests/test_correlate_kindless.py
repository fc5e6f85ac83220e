"""Call edges in traces whose spans carry no kind, status or attributes (real Online Boutique-style
instrumentation): the caller's span whose child runs in another service is a call to that
service, and the gap between the two is the call's own (network) time."""

from __future__ import annotations

from collections import defaultdict

from pipeline.correlate import CorrelateConfig
from pipeline.correlate.metric_index import MetricIndex
from pipeline.correlate.joined_rows import build_rows, call_peers
from pipeline.model import Span

MS = 1_000_000
TID = "ab" * 16


def _span(sid: str, parent: str, service: str, start: int, end: int, kind: int = 0, **kw) -> Span:
    return Span(trace_id=TID, span_id=sid, parent_span_id=parent, name=f"{service}-op", start_ns=start * MS,
                end_ns=end * MS, kind=kind, service=service, host=service + "-node", **kw)


def _rows(spans: list[Span]) -> dict:
    cfg = CorrelateConfig()
    stats: defaultdict[str, int] = defaultdict(int)
    by_id = {s.span_id: s for s in spans}
    return {r.span_id: r for r in build_rows(by_id, [], {}, MetricIndex(cfg), cfg, TID, stats, (False, False, 1, 0))}


def _kindless_trace() -> list[Span]:
    # frontend server -> frontend client span (no kind) -> cart server span; 900 ms of network gap
    return [_span("root", "", "frontend", 0, 1200, resource={"k8s.pod.name": "frontend-7d-x1"}),
            _span("call", "root", "frontend", 100, 1100, resource={"k8s.pod.name": "frontend-7d-x1"}),
            _span("srv", "call", "cart", 550, 650, resource={"k8s.pod.name": "cart-5c-y2"})]


def test_a_kindless_span_with_a_child_in_another_service_calls_that_service():
    rows = _rows(_kindless_trace())
    assert rows["call"].peer == "cart"
    assert rows["root"].peer == "" and rows["srv"].peer == ""
    # the call's own time is the client-to-server gap: 1000 ms call, 100 ms served
    assert rows["call"].self_time_ns == 900 * MS
    assert rows["srv"].self_time_ns == 100 * MS


def test_the_pod_is_the_instance_when_no_service_instance_id_is_set():
    rows = _rows(_kindless_trace())
    assert rows["srv"].instance == "cart-5c-y2"
    given = _span("s", "", "cart", 0, 10, instance="cart-1", resource={"k8s.pod.name": "cart-5c-y2"})
    assert _rows([given])["s"].instance == "cart-1"


def test_spans_with_a_kind_are_never_inferred():
    spans = [_span("root", "", "frontend", 0, 100, kind=2),
             _span("internal", "root", "frontend", 0, 100, kind=1),
             _span("remote", "internal", "cart", 10, 20, kind=2)]
    assert call_peers({s.span_id: s for s in spans}) == {"root": "", "internal": "", "remote": ""}


def test_a_peer_attribute_wins_and_several_callees_resolve_the_same_way_in_any_order():
    spans = [_span("a", "", "web", 0, 100, attributes={"peer.service": "db"}),
             _span("b", "a", "cache", 10, 20), _span("c", "", "web", 0, 100),
             _span("d", "c", "zeta", 10, 20), _span("e", "c", "alpha", 30, 40)]
    fwd = call_peers({s.span_id: s for s in spans})
    rev = call_peers({s.span_id: s for s in reversed(spans)})
    assert fwd == rev
    assert fwd["a"] == "db" and fwd["c"] == "alpha"
