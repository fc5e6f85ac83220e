"""Log-pattern evidence: templates that stop or appear, normalised by traffic, robust to a
dirty baseline, folded into the window ranking (pure rows, then through chDB)."""

from __future__ import annotations

import math
import random

from pipeline.config import Settings
from pipeline.ingest.logs.templates import TemplateMiner, template_of
from pipeline.model import LogRecord
from pipeline.rca import logpatterns
from pipeline.rca.logpatterns import MINUTE_NS, changes
from pipeline.rca.score import score_services
from pipeline.rca.window import rank_window
from pipeline.store.queries.window import Period
from pipeline.store import columnar as rows
from pipeline.store.migrate import migrate
from pipeline.store.writer import client_insert

T0 = 1_760_000_000 // 60 * 60 * 10**9  # a whole minute


def _base(per_minute: dict[str, list[int]], service="payment", instance="payment-7f9c") -> list[dict]:
    """BASELINE rows from per-template lists of counts per minute."""
    out = []
    for tid, counts in per_minute.items():
        ms = [(T0 + i * MINUTE_NS, n) for i, n in enumerate(counts) if n]
        out.append({"service": service, "instance": instance, "template_id": tid, "template": f"tpl {tid}",
                    "slices": [m for m, _ in ms], "counts": [n for _, n in ms]})
    return out


def _win(counts: dict[str, int], service="payment", instance="payment-7f9c") -> list[dict]:
    return [{"service": service, "instance": instance, "template_id": t, "template": f"tpl {t}", "severity": 9,
             "n": n} for t, n in counts.items() if n]


def test_a_template_that_stops_and_one_that_appears_are_both_found():
    base = _base({"saved": [42] * 30, "other": [20] * 30})
    found = changes(_win({"saved": 0, "other": 60, "caught": 50}), base, 3.0)
    got = {(c.template_id, c.way) for c in found.changes["payment"]}
    assert got == {("saved", "stopped"), ("caught", "appeared")}
    stopped = next(c for c in found.changes["payment"] if c.way == "stopped")
    assert stopped.expected == 126.0 and stopped.strength > 0.8
    text = stopped.evidence().summary
    assert "`tpl saved` stopped: 42/min in the baseline, 0/min in the window on payment-7f9c" in text
    ref = stopped.evidence().ref
    assert (ref["service"], ref["instance"], ref["template_id"]) == ("payment", "payment-7f9c", "saved")
    assert found.strength["payment"] > 0.9


def test_a_steady_mix_at_other_traffic_levels_is_not_a_change():
    base = _base({"saved": [40, 44, 38, 41, 43, 39, 40, 42, 45, 40], "other": [20, 22, 19, 21, 20, 21, 19, 22, 20, 20]})
    for scale in (0.3, 1.0, 3.0):  # less load or more load: the template's share holds
        found = changes(_win({"saved": int(41 * 3 * scale), "other": int(20 * 3 * scale)}), base, 3.0)
        assert found.changes == {}, scale
    # A rare template seen now and then in the baseline is no news when it shows up once or twice.
    base = _base({"saved": [40] * 20, "rare": [1, 0, 0, 2, 0, 0, 0, 1, 0, 0] * 2})
    assert changes(_win({"saved": 120, "rare": 2}), base, 3.0).changes == {}


def _poisson(rnd: random.Random, lam: float) -> int:
    n, p, limit = 0, 1.0, math.exp(-lam)
    while True:
        p *= rnd.random()
        if p <= limit:
            return n
        n += 1


def test_a_normal_window_shows_no_change_by_chance():
    """Twenty templates at rates from 0.2 to 40 lines a minute, Poisson noise in baseline and
    window alike: over 50 windows (1,000 pod-template comparisons) none is called a change."""
    rnd = random.Random(5)
    rates = [0.2 * 1.3 ** i for i in range(20)]
    flagged = 0
    for _ in range(50):
        base = _base({f"t{i}": [_poisson(rnd, r) for _ in range(30)] for i, r in enumerate(rates)})
        win = _win({f"t{i}": _poisson(rnd, 0.75 * r) for i, r in enumerate(rates)})
        flagged += sum(len(v) for v in changes(win, base, 0.75).changes.values())
    assert flagged == 0


def test_an_earlier_incident_in_the_baseline_neither_hides_nor_invents_a_change():
    # minutes 5..8 of the baseline held an incident just like the window's
    saved = [42] * 30
    caught = [0] * 30
    for m in range(5, 9):
        saved[m], caught[m] = 0, 40
    base = _base({"saved": saved, "other": [20] * 30, "caught": caught})
    found = changes(_win({"saved": 0, "other": 60, "caught": 50}), base, 3.0)
    assert {(c.template_id, c.way) for c in found.changes["payment"]} == {("saved", "stopped"),
                                                                         ("caught", "appeared")}
    # and a normal window after such a baseline shows nothing
    assert changes(_win({"saved": 126, "other": 60}), base, 3.0).changes == {}


def test_where_spans_tell_the_load_a_pod_whose_every_line_changed_is_still_caught():
    # all the pod's steady lines went (no yardstick left among its logs); its spans say it
    # served as many requests as before
    base = _base({"saved": [42] * 30, "debug": [6] * 30})
    found = changes(_win({"caught": 150}), base, 3.0, traffic={("payment", "payment-7f9c"): 1.0})
    assert {(c.template_id, c.way) for c in found.changes["payment"]} >= {("saved", "stopped"),
                                                                          ("caught", "appeared")}
    # a third of the requests: a third of the lines is no change
    quiet = changes(_win({"saved": 42, "debug": 6}), base, 3.0, traffic={("payment", "payment-7f9c"): 1 / 3})
    assert quiet.changes == {}
    rows = [{"service": "payment", "peer": "", "instance": "payment-7f9c", "n_w": 30, "n_b": 600},
            {"service": "frontend", "peer": "payment", "instance": "fe-1", "n_w": 900, "n_b": 600}]
    period = Period(40 * MINUTE_NS, 43 * MINUTE_NS, 10 * MINUTE_NS, 40 * MINUTE_NS)
    assert logpatterns.traffic(rows, period) == {("payment", "payment-7f9c"): 0.5}


def test_a_pod_that_logs_one_line_per_request_is_measured_by_the_clock():
    base = _base({"saved": [42] * 30})  # no other steady line to normalise by
    found = changes(_win({"caught": 50}), base, 3.0)
    assert {(c.template_id, c.way) for c in found.changes["payment"]} == {("saved", "stopped"),
                                                                         ("caught", "appeared")}
    assert changes(_win({"saved": 120}), base, 3.0).changes == {}


def test_a_window_a_minute_off_the_onset_still_shows_the_change():
    # asked a minute early: the window's first minute was still normal
    base = _base({"saved": [42] * 30, "other": [20] * 30})
    early = changes(_win({"saved": 42, "other": 60, "caught": 34}), base, 3.0)
    assert {(c.template_id, c.way) for c in early.changes["payment"]} == {("saved", "stopped"),
                                                                         ("caught", "appeared")}
    # asked a minute late: the baseline's last minute already held the fault
    saved, caught = [42] * 29 + [0], [0] * 29 + [17]
    late = changes(_win({"saved": 0, "other": 60, "caught": 50}), _base({"saved": saved, "other": [20] * 30,
                                                                          "caught": caught}), 3.0)
    assert {(c.template_id, c.way) for c in late.changes["payment"]} == {("saved", "stopped"),
                                                                        ("caught", "appeared")}


def test_minutes_without_data_are_missing_not_zero():
    # the instance logged nothing at all for 20 of 30 baseline minutes (a collector gap)
    saved = [42] * 10 + [0] * 20
    base = _base({"saved": saved, "other": [20] * 10 + [0] * 20})
    assert changes(_win({"saved": 126, "other": 60}), base, 3.0).changes == {}
    # an instance with no baseline of its own is not compared at all
    assert changes(_win({"saved": 0, "other": 60, "new": 90}, instance="payment-new"), base, 3.0).changes == {}


def test_a_callers_symptom_ranks_below_the_callee_it_calls():
    found = logpatterns.Findings(
        changes={"frontend": [], "payment": []}, strength={"frontend": 0.9, "payment": 0.85})
    found.changes["frontend"] = [logpatterns.Change("frontend", "fe-1", "a", "call to payment failed", "appeared",
                                                    50, 16.7, 0.0, 0.1, 0.9, severity=13),
                                 # a line that names the callee only inside a route is no failure of it
                                 logpatterns.Change("frontend", "fe-1", "c", "GET /payment/<*> ok", "appeared",
                                                    50, 16.7, 0.0, 0.1, 0.9, severity=17)]
    found.changes["payment"] = [logpatterns.Change("payment", "pay-1", "b", "order saved", "stopped",
                                                   0, 0.0, 42.0, 126.0, 0.85)]
    below = {"frontend": {"payment"}, "payment": set()}
    logpatterns.credit_named_callees(found, lambda s: below[s])
    ranked = _ranked(found, [("frontend", "payment")])
    assert [s.service for s in ranked] == ["payment", "frontend"]
    assert ranked[0].instance == "pay-1" and ranked[0].kind == "error"
    assert ranked[1].discount == "payment"  # the caller's lines are a symptom of its callee
    # the caller's line names the callee: it counts for the callee too, with the caller named
    ev = found.evidence("payment")
    assert any(e.ref["service"] == "frontend" and "frontend calls it" in e.summary for e in ev)
    assert not any("GET /payment" in e.summary for e in ev)
    # without the call edge, the louder one would lead
    found.credited = False
    found.changes["payment"] = [c for c in found.changes["payment"] if not c.via]
    found.strength["payment"] = 0.85
    logpatterns.credit_named_callees(found, lambda s: set())
    assert _ranked(found, [])[0].service == "frontend"


def _ranked(found: logpatterns.Findings, calls: list[tuple[str, str]]) -> list:
    """score_services over nothing but log patterns and the given call edges (a few quiet calls each)."""
    rows = [{"service": a, "peer": b, "instance": f"{a}-1", "name": f"call {b}", "n_w": 30, "n_b": 300,
             "own_err_w": 0, "own_err_b": 0, "self_q_w": [], "self_q_b": []} for a, b in calls]
    return score_services(rows, [], [], [], {}, patterns=found)


def test_a_store_that_writes_no_logs_is_named_by_its_callers_lines():
    found = changes(_win({"a": 126, "refused": 40}, service="catalog", instance="catalog-1"),
                    _base({"a": [42] * 30}, service="catalog", instance="catalog-1"), 3.0)
    found.changes["catalog"][0].template = "call to postgres failed: connect: connection refused"
    found.changes["catalog"][0].severity = 17
    below = {"catalog": {"postgres"}, "postgres": set()}
    logpatterns.credit_named_callees(found, lambda s: below[s])
    ranked = _ranked(found, [("catalog", "postgres")])
    assert [s.service for s in ranked] == ["postgres", "catalog"]
    assert ranked[0].instance == ""  # the line was the caller's pod, not the store's


def test_rank_window_names_the_pod_and_the_template_that_stopped(ch_client):
    """Through chDB: logs written (twice: a replay), templates assigned by the ingest stage's
    miner, the aggregate fed by its view, the window ranked by the documented entry point."""
    migrate(ch_client, Settings())
    logs = []
    for sec in range(0, 33 * 60, 2):  # 30 min baseline + 3 min window, a line pair every 2 s per pod
        t = T0 + sec * 10**9
        fault = sec >= 30 * 60
        for pod in ("payment-7f9c", "payment-2b1d"):
            broken = fault and pod == "payment-7f9c"
            logs.append(LogRecord(time_ns=t, body=f"charging card for order {sec}", service="payment",
                                  instance=pod, id=f"{pod}-{sec}-a", severity_number=9))
            body = (f"caught exception while saving order {sec}: java.lang.IllegalStateException"
                    if broken else f"order saved for {sec} in 3ms")
            logs.append(LogRecord(time_ns=t + 1000, body=body, service="payment", instance=pod,
                                  id=f"{pod}-{sec}-b", severity_number=9))
        logs.append(LogRecord(time_ns=t, body=f"GET /checkout {sec} done", service="frontend",
                              instance="frontend-1", id=f"fe-{sec}", severity_number=9))
    TemplateMiner().assign(logs)
    insert = client_insert(ch_client)
    insert("logs", rows.log_columns(logs), rows.LOG_COLUMNS)
    insert("logs", rows.log_columns(logs[len(logs) // 2:]), rows.LOG_COLUMNS)  # replayed tail
    out = rank_window(ch_client, T0 + 30 * 60 * 10**9, T0 + 33 * 60 * 10**9)
    top = out["candidates"][0]
    assert (top["service"], top["instance"]) == ("payment", "payment-7f9c")
    assert len(out["candidates"]) == 1  # the healthy pods and services are no lead
    ev = [e for e in top["evidence"] if e["ref"].get("template_id")]
    saved = template_of("order saved for 1 in 3ms")
    stopped = next(e for e in ev if e["ref"]["change"] == "stopped")
    assert stopped["ref"]["template_id"] == saved[0]
    assert stopped["summary"].startswith(f"`{saved[1]}` stopped: 30/min in the baseline, 0/min in the window "
                                         "on payment-7f9c")
    assert any(e["ref"]["change"] == "appeared" and "caught exception" in e["summary"] for e in ev)
    assert top["evidence"][0]["ref"].get("template_id")  # the pattern is what ranks it: shown first


def test_a_window_without_logs_from_most_pods_is_missing_logs_not_every_template_stopping():
    base = (_base({"a": [40] * 30}, "cart", "cart-1") + _base({"b": [40] * 30}, "ads", "ads-1")
            + _base({"c": [40] * 30}, "shop", "shop-1"))
    # no pod logged anything in the window: the logs did not arrive, nothing stopped
    assert changes([], base, 3.0).changes == {}
    # one pod of three going quiet while the others log is a change of its own
    found = changes(_win({"b": 120}, "ads", "ads-1") + _win({"c": 120}, "shop", "shop-1"), base, 3.0)
    assert [(c.service, c.way) for lst in found.changes.values() for c in lst] == [("cart", "stopped")]
