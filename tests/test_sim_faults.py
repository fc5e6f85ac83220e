"""Each fault type leaves the mark it leaves in production, where it leaves it, and nowhere else;
the ground truth says exactly what was injected. Clocks are left true here (skew has its own
tests) so windows can be compared directly."""

from __future__ import annotations

import statistics

from pipeline.sim.clock import parse_skew
from pipeline.sim.faults import parse_fault
from tests.sim_support import NS, run


def _run(*faults: str, seconds: int = 60, rps: float = 25, seed: int = 1, **kw):
    return run(preset="shop", duration_ns=seconds * NS, rps=rps, seed=seed, random_skew=False,
               faults=[parse_fault(f) for f in faults], **kw)


def _split(records, f, key="start"):
    inside = [r for r in records if f["start_ns"] <= r[key] < f["end_ns"]]
    outside = [r for r in records if r[key] < f["start_ns"]]
    return inside, outside


def _dur_ms(spans):
    return [(s["end"] - s["start"]) / 1e6 for s in spans]


def _error_logs(logs):
    return [r for r in logs if any(w in r["body"] for w in ("ERROR", "error", "Exception", "refused"))]


def test_ground_truth_records_faults_and_clocks():
    out = run(preset="shop", duration_ns=30 * NS, rps=5, seed=3,
              faults=[parse_fault("type=cpu,target=cart,start=+10s,duration=5s"),
                      parse_fault("type=network-delay,target=frontend->cart,start=+12s,duration=3s,delay=80ms")],
              skews=[parse_skew("host=node-3,offset=+2.5s,drift=12ms/min")])
    t = out.truth
    start = t["start_ns"]
    cpu, net = t["faults"]
    assert (cpu["type"], cpu["service"], cpu["instances"]) == ("cpu", "cart", ["cart-1", "cart-2", "cart-3"])
    assert (cpu["start_ns"], cpu["end_ns"]) == (start + 10 * NS, start + 15 * NS)
    assert cpu["start"].endswith("00:00:10.000000000Z")
    assert net["edge"] == {"caller": "frontend", "callee": "cart"} and net["params"]["delay"] == "80ms"
    c3 = t["clocks"]["node-3"]
    assert c3["offset_ns"] == 2_500_000_000 and abs(c3["drift_ns_per_s"] - 200_000) < 1e-6
    others = [c for h, c in t["clocks"].items() if h != "node-3"]
    assert all(abs(c["offset_ns"]) <= 3 * NS for c in others) and any(c["offset_ns"] for c in others)
    assert (t["seed"], t["preset"], t["rps"], t["duration"]) == (3, "shop", 5.0, "30s")
    # Emitted times really follow the recorded clock of node-3's instances.
    span = next(s for s in out.spans if s["host"] == "node-3")
    assert out.true_ns("node-3", span["start"]) != span["start"]


def test_error_fault_raises_errors_at_target_and_callers():
    out = _run("type=error,target=catalog,start=+20s,duration=30s,rate=0.6")
    f = out.truth["faults"][0]
    server = [s for s in out.spans if s["service"] == "catalog" and s["kind"] == 2]
    inside, outside = _split(server, f)
    rate_in = sum(s["status"] == 2 for s in inside) / len(inside)
    rate_out = sum(s["status"] == 2 for s in outside) / len(outside)
    assert rate_in > 0.4 and rate_out < 0.05
    assert any(e["attributes"][0]["value"]["stringValue"].startswith("java.lang.") for s in inside for e in s["events"])
    # Java stack traces in the catalog's own logs, and errors at the caller (frontend).
    cat_logs, _ = _split([r for r in out.logs if r["service"] == "catalog"], f, "time")
    assert any("\n\tat com.shop.catalog" in r["body"] for r in cat_logs)
    fe_in, fe_out = _split([s for s in out.spans if s["service"] == "frontend" and not s["parent"]], f)
    assert sum(s["status"] == 2 for s in fe_in) / len(fe_in) > 5 * max(0.01, sum(s["status"] == 2 for s in fe_out) / len(fe_out))


def test_latency_fault_slows_only_the_target_self_time():
    out = _run("type=latency,target=shipping,start=+20s,duration=30s,delay=300ms", rps=30)
    f = out.truth["faults"][0]
    ship_in, ship_out = _split([s for s in out.spans if s["service"] == "shipping"], f)
    assert statistics.median(_dur_ms(ship_in)) > statistics.median(_dur_ms(ship_out)) + 200
    cur_in, cur_out = _split([s for s in out.spans if s["service"] == "currency" and s["parent"]
                              and not s["name"].startswith("GET")], f)
    assert abs(statistics.median(_dur_ms(cur_in)) - statistics.median(_dur_ms(cur_out))) < 5


def test_cpu_fault_saturates_cpu_and_stretches_self_time():
    out = _run("type=cpu,target=currency-1,start=+20s,duration=30s,factor=5")
    f = out.truth["faults"][0]
    assert f["instances"] == ["currency-1"]
    cpu = {i: _split([m for m in out.metrics if m["instance"] == i and m["name"] == "process.cpu.utilization"], f, "time")
           for i in ("currency-1", "currency-2")}
    assert min(m["value"] for m in cpu["currency-1"][0]) > 0.9
    assert max(m["value"] for m in cpu["currency-1"][1]) < 0.5
    assert max(m["value"] for m in cpu["currency-2"][0]) < 0.5
    # currency sets no span kind: its server spans are the ones with parents on other instances.
    spans = [s for s in out.spans if s["instance"] == "currency-1"]
    s_in, s_out = _split(spans, f)
    assert statistics.median(_dur_ms(s_in)) > 3 * statistics.median(_dur_ms(s_out))


def test_memory_leak_grows_then_oom_kills_and_restarts():
    out = _run("type=memory,target=cart-2,start=+10s,duration=60s,fill=20s,restart=15s", seconds=80, rps=20,
               metric_interval_ns=2 * NS)
    f = out.truth["faults"][0]
    kills = f["oom_kills"]
    assert kills and all(k["instance"] == "cart-2" for k in kills)
    k0 = kills[0]
    assert 13 * NS < k0["killed_ns"] - f["start_ns"] < 27 * NS
    mem = [m for m in out.metrics if m["instance"] == "cart-2" and m["name"] == "process.memory.usage"]
    before = [m["value"] for m in mem if f["start_ns"] <= m["time"] < k0["killed_ns"]]
    assert before[-1] > 0.9 * 768 * 2**20 and before[-1] > 2.5 * before[0]
    assert before[-1] == max(before)
    # Nothing at all from cart-2 while it is dead.
    for recs, key in ((out.spans, "start"), (out.logs, "time"), (out.metrics, "time")):
        assert not [r for r in recs if r["instance"] == "cart-2" and k0["killed_ns"] + NS <= r[key] < k0["restarted_ns"]]
        assert [r for r in recs if r["instance"] == "cart-2" and r[key] >= k0["restarted_ns"]]
    cart2 = [r["body"] for r in out.logs if r["instance"] == "cart-2"]
    assert any("OutOfMemoryException" in b for b in cart2) and any("OOMKilled" in b for b in cart2)
    # Callers saw refused connections to cart-2 before the balancer dropped it.
    caller_logs = [r["body"] for r in out.logs if r["service"] in ("frontend", "checkout")
                   and k0["killed_ns"] <= r["time"] < k0["killed_ns"] + 4 * NS]
    assert any("connection refused" in b or "Connection refused" in b for b in caller_logs)
    gc = [m["value"] for m in out.metrics if m["instance"] == "cart-2" and m["name"] == "runtime.gc.pause"
          and k0["killed_ns"] - 4 * NS <= m["time"] < k0["killed_ns"]]
    base = [m["value"] for m in out.metrics if m["instance"] == "cart-2" and m["name"] == "runtime.gc.pause"
            and m["time"] < f["start_ns"]]
    assert min(gc) > 3 * max(base)


def test_network_delay_shows_in_caller_client_span_not_callee():
    out = _run("type=network-delay,target=frontend->cart,start=+20s,duration=30s,delay=200ms", rps=30)
    f = out.truth["faults"][0]
    fe_ids = {(s["trace"], s["span"]) for s in out.spans if s["service"] == "frontend"}
    client = [s for s in out.spans if s["service"] == "frontend" and s["kind"] == 3 and "CartService" in s["name"]]
    c_in, c_out = _split(client, f)
    assert statistics.median(_dur_ms(c_in)) > statistics.median(_dur_ms(c_out)) + 150
    server = [s for s in out.spans if s["service"] == "cart" and (s["trace"], s["parent"]) in fe_ids]
    s_in, s_out = _split(server, f)
    assert abs(statistics.median(_dur_ms(s_in)) - statistics.median(_dur_ms(s_out))) < 3
    # checkout -> cart is not on the edge.
    other = [s for s in out.spans if s["service"] == "checkout" and "CartService" in s["name"]]
    o_in, _ = _split(other, f)
    assert not o_in or statistics.median(_dur_ms(o_in)) < 50


def test_packet_loss_causes_retransmission_delays_and_resets_on_the_edge():
    out = _run("type=packet-loss,target=checkout->payment,start=+10s,duration=50s,rate=0.5", rps=60)
    f = out.truth["faults"][0]
    server = {(s["trace"], s["parent"]): s for s in out.spans if s["service"] == "payment"}
    client = [s for s in out.spans if s["service"] == "checkout" and s["name"] == "POST /charge"]

    def lost(spans):  # share of calls whose network part (client minus server time) took a retransmission
        gaps = [(c["end"] - c["start"]) - (server[k]["end"] - server[k]["start"])
                for c in spans if (k := (c["trace"], c["span"])) in server]
        return sum(g > 190_000_000 for g in gaps) / len(gaps)

    c_in, c_out = _split(client, f)
    assert lost(c_in) > 0.3 and lost(c_out) == 0
    logs, _ = _split([r for r in out.logs if r["service"] == "checkout"], f, "time")
    assert any("connection reset" in r["body"] for r in logs)


def test_dependency_down_gives_refused_connections_in_callers():
    out = _run("type=dependency-down,target=redis,start=+20s,duration=20s")
    f = out.truth["faults"][0]
    clients = [s for s in out.spans if s["attrs"].get("db.system") == "redis"]
    c_in, c_out = _split(clients, f)
    assert c_in and all(s["end"] - s["start"] < 5_000_000 for s in c_in)
    cart_in = [s for s in c_in if s["service"] == "cart"]
    assert cart_in and not any(s["status"] for s in cart_in)  # cart sets no status: errors only in logs
    catalog_in = [s for s in c_in if s["service"] == "catalog"]
    assert catalog_in and all(s["status"] == 2 and s["attrs"]["error.type"] == "connection_refused" for s in catalog_in)
    logs, _ = _split([r for r in out.logs if r["service"] == "cart"], f, "time")
    assert any("Connection refused" in r["body"] for r in logs)
    assert not [m for m in out.metrics if m["service"] == "redis" and f["start_ns"] + NS <= m["time"] < f["end_ns"]]


def test_pool_exhaustion_pins_pool_metrics_and_times_out():
    out = _run("type=pool-exhaustion,target=orders,start=+20s,duration=30s", rps=60)
    f = out.truth["faults"][0]
    usage = [m for m in out.metrics if m["service"] == "orders" and m["name"] == "db.client.connections.usage"]
    u_in, u_out = _split(usage, f, "time")
    assert all(m["value"] == 10.0 for m in u_in) and max(m["value"] for m in u_out) < 5
    pending = [m for m in out.metrics if m["service"] == "orders" and m["name"] == "db.client.connections.pending_requests"]
    p_in, _ = _split(pending, f, "time")
    assert max(m["value"] for m in p_in) > 0
    logs, _ = _split([r for r in out.logs if r["service"] == "orders"], f, "time")
    assert any("Connection is not available" in r["body"] for r in logs)
    # Waiting for a connection widens the gap inside the orders server spans.
    srv = [s for s in out.spans if s["service"] == "orders" and s["kind"] == 2]
    s_in, s_out = _split(srv, f)
    assert statistics.median(_dur_ms(s_in)) > statistics.median(_dur_ms(s_out)) + 300


def test_bad_deploy_hits_one_instance_with_a_new_version():
    out = _run("type=bad-deploy,target=payment,start=+20s,duration=30s,rate=0.5", rps=60)
    f = out.truth["faults"][0]
    assert f["instances"] == ["payment-2"] and f["version"] == "1.1.0"
    versions = {(r["instance"], r["version"]) for r in out.spans + out.logs if f["start_ns"] <= r.get("start", r.get("time")) < f["end_ns"]}
    assert ("payment-2", "1.1.0") in versions and ("payment-1", "1.0.0") in versions
    assert ("payment-1", "1.1.0") not in versions

    def errors(inst):
        logs, _ = _split([r for r in out.logs if r["instance"] == inst], f, "time")
        return sum("reading 'currencyCode'" in r["body"] for r in logs)  # the new build's bug

    assert errors("payment-2") > 10 and errors("payment-1") == 0
    assert any("starting payment version 1.1.0" in r["body"] for r in out.logs if r["instance"] == "payment-2")
