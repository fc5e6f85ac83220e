"""The simulator's `real` instrumentation profile, and faults that only change log templates."""

from __future__ import annotations

from collections import Counter

import orjson

from pipeline.config import Settings
from pipeline.ingest.stage import Ingestor
from pipeline.sim.faults import parse_fault
from pipeline.sim.otlp_json import metric_json
from pipeline.rca.window import rank_window
from pipeline.sim.simulator import SimConfig, Simulation
from tests.rca_support import load_fault

S = 10**9
_TOPIC = {"traces": "otlp_spans", "logs": "otlp_logs", "metrics": "otlp_metrics"}


def _run(profile: str, fault: str | None = None, seconds: int = 150):
    cfg = SimConfig(duration_ns=seconds * S, rps=15.0, seed=4, profile=profile,
                    faults=[parse_fault(fault)] if fault else [])
    sim = Simulation(cfg)
    ing = Ingestor(Settings())
    spans, logs, metrics = [], [], []
    for signal, payload in sim.messages():
        res = ing.process(_TOPIC[signal], [payload], [0])
        spans += res.spans
        logs += res.logs
        metrics += res.metrics
        # the only bad input is the junk a real scrape holds: an idle pod's NaN latency, which
        # goes to the dead-letter topic with its reason
        assert all("not a finite number" in e.reason for e in res.errors), res.errors
    return sim, spans, logs, metrics


def test_real_profile_has_no_span_kind_or_status_and_pods_as_instances():
    sim, spans, logs, metrics = _run("real", "type=error,target=cart,start=+60s,duration=60s")
    truth = sim.ground_truth()
    assert truth["profile"] == "real" and truth["faults"][0]["service"] == "cart"
    pods = set(truth["faults"][0]["instances"])
    assert all(p.startswith("cart-") and len(p.split("-")) == 3 for p in pods)
    assert {s.kind for s in spans} == {0} and {s.status_code for s in spans} == {0}
    for rec in spans + logs + metrics:
        assert "service.instance.id" not in rec.resource
        assert rec.instance == rec.resource["k8s.pod.name"]  # the pod is the instance
    # the failures are there, but only in the log text
    failed = [r for r in logs if r.service == "cart" and r.severity_text == "ERROR"]
    assert failed and {r.instance for r in failed} <= pods
    assert all("failed" in r.template for r in failed)


def test_real_profile_logs_are_wrapped_local_time_lines_read_right():
    _, _, logs, _ = _run("real", seconds=40)
    rec = next(r for r in logs if r.service == "catalog" and r.trace_id)
    assert rec.format == "container/text"
    wrapper = orjson.loads(rec.body) if rec.body.startswith("{") else None
    assert wrapper is None  # the stored body is the app line, not the wrapper
    # the app line's stamp is local time (UTC+8) without a zone; the stored time is still true UTC
    stamp = rec.body[:23]
    assert stamp[11:13] == f"{(rec.time_ns // S // 3600 + 8) % 24:02d}"
    assert rec.severity_number == 0 or rec.severity_text in ("DEBUG", "INFO", "WARN", "ERROR")
    levels = Counter(r.severity_text for r in logs)
    assert levels["INFO"] > 0 and levels[""] == 0  # every level is read from the text
    # templates are the message, without stamp, level, thread or logger
    assert all(not r.template.startswith(("20", "[", "c.shop")) for r in logs)
    assert any(r.template.endswith("completed in <*> items=<*>") for r in logs)


def test_real_profile_metrics_are_per_minute_per_pod_with_junk_series():
    _, _, _, metrics = _run("real", seconds=300)
    per_series = Counter((m.instance, m.name) for m in metrics)
    assert max(per_series.values()) <= 5  # one reading a minute over five minutes
    times = sorted(m.time_ns for m in metrics if m.name == "process.cpu.utilization" and m.instance ==
                   next(iter(per_series))[0])
    assert len(times) >= 4 and all(abs(b - a - 60 * S) < S for a, b in zip(times, times[1:]))  # drifting clocks
    assert {m.value for m in metrics if m.name == "legacy.queue.depth"} == {0.0}
    assert any(m.name == "service.request.duration.p99" for m in metrics)
    # NaN (an idle pod's latency) is written the way OTLP/JSON spells it, so the rest of its
    # request decodes and the NaN point itself is dead-lettered with its reason
    doc = {"resourceMetrics": [{"resource": {"attributes": []}, "scopeMetrics": [{"metrics": [orjson.loads(
        metric_json(("service.request.duration.p99", "ms", "gauge", 5 * S, 4 * S, float("nan"), _NoAttrs(),
                     None)))]}]}]}
    res = Ingestor(Settings()).process("otlp_metrics", [orjson.dumps(doc)], [0])
    assert res.metrics == [] and "nan is not a finite number" in res.errors[0].reason


class _NoAttrs:
    items = ()


def _counts(logs, service: str, lo: int, hi: int) -> Counter:
    return Counter(r.template for r in logs if r.service == service and lo <= r.time_ns < hi)


def test_silent_faults_change_only_which_templates_appear():
    for ftype, new_word in (("return-value", "returned an empty result"), ("caught-exception", "caught ")):
        sim, spans, logs, _ = _run("real", f"type={ftype},target=cart,start=+60s,duration=60s", seconds=130)
        f = sim.ground_truth()["faults"][0]
        lo, hi = f["start_ns"] + 5 * S, f["end_ns"] - 5 * S  # log times are on skewed host clocks
        before, during = _counts(logs, "cart", f["start_ns"] - 55 * S, f["start_ns"] - 5 * S), _counts(logs, "cart", lo, hi)
        gone = [t for t in before if "completed in" in t]
        assert gone and all(during[t] == 0 for t in gone), ftype  # the success line stopped
        new = [t for t in during if new_word in t]
        assert new and all(before[t] == 0 for t in new), ftype  # and another appeared
        # no error status anywhere, and the cart's own spans are no slower
        assert {s.status_code for s in spans} == {0}
        own = sorted(s.end_ns - s.start_ns for s in spans if s.service == "cart" and lo <= s.start_ns < hi)
        base = sorted(s.end_ns - s.start_ns for s in spans if s.service == "cart" and s.start_ns < f["start_ns"])
        assert own[len(own) // 2] < 2 * base[len(base) // 2]
        if ftype == "caught-exception":
            assert {r.severity_text for r in logs if r.template in new} == {"WARN"}


def test_the_default_profile_is_unchanged():
    a = Simulation(SimConfig(duration_ns=20 * S, seed=3))
    b = Simulation(SimConfig(duration_ns=20 * S, seed=3, profile="otel"))
    assert list(a.messages()) == list(b.messages())
    res = next(p for s, p in Simulation(SimConfig(duration_ns=5 * S, seed=3)).messages() if s == "traces")
    assert b"service.instance.id" in res and b"k8s.pod.name" not in res


def test_a_silent_fault_is_ranked_first_with_the_templates_that_changed(chdb_root):
    """Every stage in process (decode, parse, template, correlate, chDB), then the window ranked:
    nothing but the log mix tells the fault."""
    client, truth = load_fault(chdb_root, "type=return-value,target=currency", profile="real")
    f = truth["faults"][0]
    top = rank_window(client, f["start_ns"], f["end_ns"])["candidates"][0]
    assert (top["service"], top["kind"]) == ("currency", "error")
    assert top["instance"] in f["instances"]  # a pod of the service
    changes = {(e["ref"]["change"], e["ref"]["instance"]): e["ref"]["template"] for e in top["evidence"]
               if e["ref"].get("template_id")}
    # the success path's lines (its completion, or its debug line) stopped; the new one appeared
    assert any(way == "stopped" and ("completed in <*>" in t or "cache lookup" in t) for (way, _), t in changes.items())
    assert any(way == "appeared" and "returned an empty result" in t for (way, _), t in changes.items())
    assert top["evidence"][0]["signal"] == "log"
