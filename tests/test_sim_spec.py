"""Simulator inputs: durations and specs as written on the command line, topology files, the
`telecorr simulate` subcommand."""

from __future__ import annotations

import argparse

import orjson
import pytest

from pipeline.commands import simulate as simulate_cmd
from pipeline.config import common_parser
from pipeline.sim.clock import HostClock, host_clocks, parse_skew
from pipeline.sim.faults import parse_fault, resolve
from pipeline.ingest.framing import read_delimited, varint
from pipeline.sim.topology import TopologyError, load_topology, parse_topology
from pipeline.sim.units import format_duration, parse_drift, parse_duration_ns, parse_instant_ns, rfc3339

NS = 1_000_000_000


@pytest.mark.parametrize("text,ns", [("10m", 600 * NS), ("1m30s", 90 * NS), ("+2.5s", 2_500_000_000),
                                     ("-300ms", -300_000_000), ("45", 45 * NS), ("1h", 3600 * NS), ("250us", 250_000)])
def test_durations(text, ns):
    assert parse_duration_ns(text) == ns
    assert parse_duration_ns(format_duration(ns)) == ns


@pytest.mark.parametrize("bad", ["", "ten minutes", "5 parsecs", "1m-3s"])
def test_bad_durations_are_rejected(bad):
    with pytest.raises(ValueError):
        parse_duration_ns(bad)


def test_drift_and_instants():
    assert parse_drift("10ms/min") == pytest.approx(10_000_000 / 60)
    assert parse_drift("-2ms/s") == -2_000_000
    t = parse_instant_ns("2025-03-01T12:00:00.5+01:00")
    assert t == parse_instant_ns("2025-03-01T11:00:00.500000000Z")
    assert rfc3339(t) == "2025-03-01T11:00:00.500000000Z"
    with pytest.raises(ValueError):
        parse_instant_ns("yesterday")


def test_fault_specs():
    f = parse_fault("type=cpu,target=cart,start=+3m,duration=2m,factor=3")
    assert (f.type, f.target, f.start, f.duration_ns, dict(f.params)) == ("cpu", "cart", "+3m", 120 * NS, {"factor": "3"})
    assert parse_fault("type=network-delay,target=frontend->cart,start=+1m,duration=30s").target == "frontend->cart"
    for bad in ("type=cpu,target=cart,start=+3m",  # no duration
                "type=melt,target=cart,start=+1m,duration=1m",
                "type=cpu,target=cart,start=+1m,duration=1m,delay=3s",  # cpu takes no delay
                "type=packet-loss,target=cart,start=+1m,duration=1m",  # needs an edge
                "type=error,target=a->b,start=+1m,duration=1m",
                "type=cpu,target=cart,start=soon,duration=1m"):
        with pytest.raises(ValueError):
            parse_fault(bad)


def test_fault_targets_resolve_against_the_topology():
    import random
    topo = load_topology("shop")
    start = 1_000 * NS
    f = resolve(parse_fault("type=error,target=cart-2,start=+10s,duration=5s"), topo, start, random.Random(1))
    assert [i.id for i in f.instances] == ["cart-2"] and f.start_ns == start + 10 * NS and f.end_ns == start + 15 * NS
    f = resolve(parse_fault("type=latency,target=cart,start=1970-01-01T00:20:00Z,duration=5s"), topo, start, random.Random(1))
    assert f.start_ns == 1_200 * NS and len(f.instances) == 3
    for bad in ("type=error,target=nosuch,start=+1s,duration=1s",
                "type=network-delay,target=cart->frontend,start=+1s,duration=1s",  # cart never calls frontend
                "type=pool-exhaustion,target=cart,start=+1s,duration=1s"):  # cart has no pool
        with pytest.raises(ValueError):
            resolve(parse_fault(bad), topo, start, random.Random(1))


def test_skew_specs_and_clocks():
    s = parse_skew("host=node-3,offset=+2.5s,drift=10ms/min")
    assert (s.host, s.offset_ns) == ("node-3", 2_500_000_000)
    clk = HostClock("node-3", s.offset_ns, s.drift_ns_per_s, epoch_ns=100 * NS)
    assert clk.emit(100 * NS) == 102_500_000_000
    assert clk.emit(160 * NS) - 160 * NS == 2_500_000_000 + 10_000_000  # one minute later: +10 ms
    clocks = host_clocks(["node-1", "node-3"], [s], 0, None)
    assert clocks["node-1"].offset_ns == 0 and clocks["node-3"].offset_ns == 2_500_000_000
    with pytest.raises(ValueError):
        host_clocks(["node-1"], [s], 0, None)
    with pytest.raises(ValueError):
        parse_skew("offset=1s")


def test_presets_load():
    shop, large = load_topology("shop"), load_topology("large")
    assert 10 <= sum(s.emits_spans for s in shop.services.values()) <= 12
    assert 35 <= len(large.services) <= 45
    for topo in (shop, large):
        protocols = {s.protocol for s in topo.services.values()}
        assert {"http", "grpc", "redis", "kafka"} <= protocols
        assert any(c.is_async for s in topo.services.values() for op in s.operations.values() for c in op.calls)
        assert any(c.fanout[1] > 1 for s in topo.services.values() for op in s.operations.values() for c in op.calls)
        assert all(len(s.instances) >= 1 for s in topo.services.values())


def _doc(**services):
    return {"hosts": ["h1"], "services": services}


def test_topology_errors_name_the_problem():
    ok = {"protocol": "http", "operations": {"GET /": {"entry": 1, "calls": [{"to": "b.Do"}]}}}
    b = {"protocol": "grpc", "operations": {"Do": {"self": ["1ms", "5ms"]}}}
    assert parse_topology(_doc(a=ok, b=b)).entries[0].name == "GET /"
    cases = {
        "service.operation": _doc(a=ok),
        "cycle": _doc(a=ok, b={"protocol": "grpc", "operations": {"Do": {"calls": [{"to": "a.GET /"}]}}}),
        "median": _doc(a=ok, b={"protocol": "grpc", "operations": {"Do": {"self": ["5ms", "1ms"]}}}),
        "entry": _doc(b=b),
        "log_format": _doc(a={**ok, "log_format": "xml"}, b=b),
    }
    for needle, doc in cases.items():
        with pytest.raises(TopologyError, match=needle):
            parse_topology(doc)
    with pytest.raises(TopologyError):
        load_topology("nosuch")


def test_varint_framing_round_trips():
    msgs = [b"", b"x" * 127, b"y" * 128, b"z" * 70_000]
    data = b"".join(varint(len(m)) + m for m in msgs)
    assert list(read_delimited(data)) == msgs
    with pytest.raises(ValueError):
        list(read_delimited(varint(10) + b"short"))


def _cli(argv: list[str]) -> int:
    common = common_parser()
    parser = argparse.ArgumentParser(prog="telecorr", parents=[common])
    simulate_cmd.register(parser.add_subparsers(dest="command", required=True), common)
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_writes_files_and_ground_truth(tmp_path, capsys):
    out = tmp_path / "run"
    topo = tmp_path / "topo.yaml"
    topo.write_text("hosts: [h1, h2]\nservices:\n"
                    "  web: {protocol: http, instances: 2, operations: {'GET /': {entry: 1, calls: [{to: db.Q}]}}}\n"
                    "  db: {protocol: postgresql, operations: {Q: {self: [1ms, 4ms], statement: SELECT 1}}}\n")
    rc = _cli(["simulate", "--topology", str(topo), "--duration", "20s", "--rps", "5", "--seed", "4",
               "--fault", "type=latency,target=db,start=+5s,duration=5s", "--skew", "host=h2,offset=-1s",
               "--encoding", "otlp-proto", "--truth-detail", "--start", "2025-03-01T12:00:00Z", "--out", str(out)])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == ["ground_truth.json", "log_truth.jsonl", "logs.binpb",
                                                    "metrics.binpb", "traces.binpb"]
    truth = orjson.loads((out / "ground_truth.json").read_bytes())
    assert truth["faults"][0]["service"] == "db" and truth["clocks"]["h2"]["offset_ns"] == -NS
    assert truth["start"] == "2025-03-01T12:00:00.000000000Z" and truth["faults"][0]["start"].startswith("2025-03-01T12:00:05")
    assert truth["topology_file"] == str(topo) and truth["counts"]["spans"] > 0
    assert "simulated" in capsys.readouterr().err


def test_cli_rejects_bad_specs(tmp_path, capsys):
    with pytest.raises(SystemExit):
        _cli(["simulate", "--fault", "type=cpu", "--out", str(tmp_path)])
    assert "fault" in capsys.readouterr().err
    assert _cli(["simulate", "--fault", "type=error,target=nosuch,start=+1s,duration=1s", "--duration", "5s",
                 "--out", str(tmp_path)]) == 2
