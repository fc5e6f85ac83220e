"""`telecorr simulate`: realistic telemetry with injected faults and their ground truth."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pipeline.config import load_settings
from pipeline.kafka.io import BrokerUnavailable, publish
from pipeline.sim.clock import parse_skew
from pipeline.sim.faults import FAULT_PARAMS, FAULT_TYPES, parse_fault
from pipeline.sim.output import kafka_messages, write_files, write_truth
from pipeline.sim.profiles import PROFILES
from pipeline.sim.simulator import ENCODINGS, SimConfig, Simulation
from pipeline.sim.topology import PRESETS, TopologyError
from pipeline.sim.units import parse_duration_ns, parse_instant_ns


def _arg(parse, what: str):
    def convert(text: str):
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{what}: {exc}") from None
    convert.__name__ = what
    return convert


def cmd_simulate(args: argparse.Namespace) -> int:
    encoding = args.encoding or ("otlp-proto" if args.kafka else "otlp-json")
    config = SimConfig(
        preset=None if args.topology else (args.preset or "shop"), topology=args.topology,
        duration_ns=args.duration, rps=args.rps, seed=args.seed, start_ns=args.start,
        faults=args.fault or [], skews=args.skew or [], random_skew=not args.no_random_skew,
        encoding=encoding, batch=args.batch, metric_interval_ns=args.metric_interval,
        truth_detail=args.truth_detail, profile=args.profile)
    try:
        sim = Simulation(config)
    except (TopologyError, ValueError) as exc:
        print(f"telecorr simulate: {exc}", file=sys.stderr)
        return 2
    began = time.perf_counter()
    if args.out:
        counts = write_files(sim, args.out)
        where = args.out
    else:
        settings = load_settings(args)
        truth_dir = Path(args.truth_dir or ".")
        try:
            sent = publish(settings, kafka_messages(sim, truth_dir))
        except BrokerUnavailable as exc:
            print(f"telecorr simulate: {exc}", file=sys.stderr)
            return 1
        truth_dir.mkdir(parents=True, exist_ok=True)
        write_truth(sim, truth_dir)
        counts = dict(sim.counts)
        where = f"{settings.broker} ({', '.join(f'{t}: {n} messages' for t, n in sorted(sent.items()))})"
    took = time.perf_counter() - began
    records = counts["spans"] + counts["logs"] + counts["metrics"]
    print(f"simulated {counts['requests']} requests: {counts['spans']} spans, {counts['logs']} logs, "
          f"{counts['metrics']} metric points -> {where} in {took:.1f}s ({records / max(took, 1e-9):,.0f} records/s)",
          file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "simulate", parents=[common],
        help="generate microservice telemetry with injected faults (files or Kafka) and its ground truth",
        description="Simulate a microservice system's traces, logs and metrics, with faults injected at known "
                    "times, per-host clock skew, and ground_truth.json describing what was injected.")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--preset", choices=PRESETS, help="built-in topology (default: shop)")
    src.add_argument("--topology", metavar="FILE", help="topology YAML file (format: pipeline/sim/shop.yaml)")
    p.add_argument("--duration", type=_arg(parse_duration_ns, "duration"), default=parse_duration_ns("10m"),
                   metavar="D", help="simulated time, e.g. 10m, 90s (default 10m)")
    p.add_argument("--rps", type=float, default=20.0, metavar="N", help="user requests per simulated second")
    p.add_argument("--seed", type=int, default=1, help="same seed, same output bytes (default 1)")
    p.add_argument("--start", type=_arg(parse_instant_ns, "start"), default=None, metavar="RFC3339",
                   help="true start time (default: a fixed instant derived from the seed)")
    p.add_argument("--fault", type=_arg(parse_fault, "fault"), action="append", metavar="SPEC",
                   help="type=T,target=SERVICE|INSTANCE|CALLER->CALLEE,start=+3m|RFC3339,duration=2m[,PARAM=V]; "
                        f"types: {', '.join(FAULT_TYPES)}; params: "
                        + "; ".join(t + " " + ", ".join(f"{k}={v or 'auto'}" for k, v in params.items())
                                    for t, params in FAULT_PARAMS.items() if params))
    p.add_argument("--skew", type=_arg(parse_skew, "skew"), action="append", metavar="SPEC",
                   help="host=node-3,offset=+2.5s,drift=10ms/min (other hosts get a random skew)")
    p.add_argument("--no-random-skew", action="store_true",
                   help="hosts without --skew keep a perfect clock")
    p.add_argument("--metric-interval", type=_arg(parse_duration_ns, "metric interval"), default=None, metavar="D",
                   help="sample every instance's metrics at this interval (default: each service's own, "
                        "from the topology; 10s unless it says otherwise)")
    p.add_argument("--profile", choices=PROFILES, default="otel",
                   help="instrumentation: otel (default: span kinds and statuses, structured logs, 10 s "
                        "metrics) or real (no span kind or status, errors only in log text, container JSON "
                        "log wrappers with zone-less local-time stamps, pods as instances, per-minute "
                        "metrics with junk series)")
    p.add_argument("--encoding", choices=ENCODINGS, default=None,
                   help="otlp-proto (Kafka default), otlp-json (files default) or jsonl flat events")
    p.add_argument("--batch", type=int, default=512, metavar="N", help="records per export request (default 512)")
    p.add_argument("--truth-detail", action="store_true",
                   help="also write log_truth.jsonl: the span each log line was really written in")
    p.add_argument("--truth-dir", metavar="DIR", help="with --kafka: where ground truth goes (default .)")
    dest = p.add_mutually_exclusive_group(required=True)
    dest.add_argument("--out", metavar="DIR", help="write files into DIR")
    dest.add_argument("--kafka", action="store_true", help="publish to the configured Kafka topics")
    p.set_defaults(func=cmd_simulate)
