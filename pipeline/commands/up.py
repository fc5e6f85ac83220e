"""`telecorr up [--demo]`: the one command that brings a working stack up on this machine.

It starts the local broker when none answers at a loopback address, runs `telecorr worker` as
a child process (the worker owns the embedded store), and with `--demo` publishes a simulated
shop with an injected fault, shows live progress, and prints what was stored once the worker
has caught up. Ctrl-C stops everything this command started, and nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson

from pipeline.config import REPO_ROOT, Settings, load_settings
from pipeline.kafka_io import BrokerUnavailable, publish, wait_for_broker

DEMO_FAULT = "type=error,target=payment,start=+50s,duration=40s"


class LocalBroker:
    """The Tansu broker from deploy/kafka/up.sh, started only if nothing answers already."""

    def __init__(self, settings: Settings) -> None:
        host, _, port = settings.broker.rpartition(":")
        self.port = port
        self.local = host in ("127.0.0.1", "localhost")
        self.started = False
        self.env = dict(os.environ, KAFKA_PORT=port, TELECORR_TOPIC_PREFIX=settings.topic_prefix,
                        PYTHON=sys.executable)

    def ensure(self, settings: Settings) -> None:
        try:
            asyncio.run(wait_for_broker(settings.broker, timeout_s=1.5))
            return
        except BrokerUnavailable:
            if not self.local:
                raise
        out = subprocess.run(["bash", str(REPO_ROOT / "deploy/kafka/up.sh")], env=self.env,
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise BrokerUnavailable(f"could not start the local broker: {out.stderr.strip()}")
        self.started = True
        say(f"started the local broker on 127.0.0.1:{self.port}")

    def stop(self) -> None:
        if self.started:
            subprocess.run(["bash", str(REPO_ROOT / "deploy/kafka/down.sh")], env=self.env, capture_output=True)
            say("stopped the local broker")


def say(text: str) -> None:
    print(f"telecorr: {text}", flush=True)


def worker_command(args: argparse.Namespace, idle_s: float | None) -> list[str]:
    cmd = [sys.executable, "-m", "pipeline.cli"]
    for flag, name in (("--broker", "broker"), ("--clickhouse", "clickhouse"), ("--topic-prefix", "topic_prefix"),
                       ("--config", "config")):
        if getattr(args, name, None) is not None:
            cmd += [flag, getattr(args, name)]
    cmd.append("worker")
    if idle_s is not None:
        cmd += ["--stop-when-idle", str(idle_s)]
    return cmd


class Progress:
    """Reads the worker's structured stderr and keeps the newest progress event."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.latest: dict = {}
        self.final: dict = {}
        self.other: list[str] = []
        threading.Thread(target=self._pump, args=(proc,), daemon=True).start()

    def _pump(self, proc: subprocess.Popen) -> None:
        for line in proc.stderr:
            if line.startswith('{"ts"'):
                event = orjson.loads(line)
                if event["event"] == "progress":
                    self.latest = event
                elif event["event"] == "idle-stop":
                    self.final = event
            elif line.strip():
                self.other.append(line.rstrip())

    def line(self) -> str:
        e = self.final or self.latest
        if not e:
            return "worker starting (joining the consumer group)…"
        stored = e["stored"]
        return (f"consumed {e['messages']} messages | stored spans {stored.get('spans', 0)}, "
                f"logs {stored.get('logs', 0)}, metrics {stored.get('metrics', 0)} | dead letters {e['dead_letters']}")


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.sim import SimConfig, Simulation, kafka_messages, parse_fault

    truth_dir = Path(".telecorr/demo")
    sim = Simulation(SimConfig(preset="shop", duration_ns=int(args.duration * 1e9), rps=args.rps, seed=args.seed,
                               faults=[parse_fault(args.fault)], encoding="otlp-proto"))
    say(f"simulating the shop for {args.duration:.0f}s of traffic at {args.rps:g} requests/s "
        f"with fault {args.fault}")
    sent = publish(settings, kafka_messages(sim, truth_dir))
    truth = sim.ground_truth()
    truth_dir.mkdir(parents=True, exist_ok=True)
    (truth_dir / "ground_truth.json").write_bytes(orjson.dumps(truth, option=orjson.OPT_INDENT_2))
    say(f"published {sum(sent.values())} messages ({', '.join(f'{k}: {v}' for k, v in sorted(sent.items()))})")
    # The worker starts once the traffic is in Kafka, so its idle stop cannot fire early.
    proc = subprocess.Popen(worker_command(args, idle_s=5.0), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    progress = Progress(proc)
    try:
        live, shown = sys.stdout.isatty(), ""
        while proc.poll() is None:
            text = progress.line()
            if live:
                print("\r" + text.ljust(110), end="", flush=True)
            elif text != shown:
                print(text, flush=True)
                shown = text
            time.sleep(0.5)
        print(("\r" if live else "") + progress.line().ljust(110 if live else 0), flush=True)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
    if proc.returncode != 0:
        sys.stderr.write("\n".join(progress.other[-30:]) + "\n")
        say(f"the worker exited with code {proc.returncode}")
        return 1
    show_results(settings, truth)
    return 0


def show_results(settings: Settings, truth: dict) -> None:
    """What landed, per service, beside what was injected."""
    from pipeline.store.client import connect

    client = connect(settings.clickhouse)
    q = client.query
    tables = ("spans", "logs", "metrics", "correlated_spans", "dlq")
    counts = {t: q(f"SELECT count() FROM {t} FINAL").result_rows[0][0] for t in tables}
    say("stored: " + ", ".join(f"{t} {n}" for t, n in counts.items()))
    # Errors count status, error logs, exceptions and 5xx (the correlated row's is_error), and
    # self time is what a span spent outside its children.
    rows = q("SELECT service, count() AS spans, countIf(is_error) AS errors, sum(log_count) AS logs, "
             "round(quantile(0.99)(self_time_ns / 1e6), 1) AS self_p99_ms FROM correlated_spans FINAL "
             "GROUP BY service ORDER BY errors DESC, self_p99_ms DESC").result_rows
    print(f"{'service':<16}{'spans':>9}{'errors':>8}{'logs joined':>13}{'self-time p99 ms':>18}")
    for service, spans, errors, logs, p99 in rows:
        print(f"{service:<16}{spans:>9}{errors:>8}{logs:>13}{p99:>18}")
    offsets = q("SELECT host, round(median(clock_offset_ns) / 1e6, 1) FROM correlated_spans FINAL "
                "GROUP BY host ORDER BY host").result_rows
    say("estimated clock offsets (ms, relative): " + ", ".join(f"{h} {o:+g}" for h, o in offsets))
    for fault in truth.get("faults", []):
        say(f"injected: {fault.get('type')} on {fault.get('target')} "
            f"from {fault.get('start')} to {fault.get('end')}")


def cmd_up(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    broker = LocalBroker(settings)
    try:
        broker.ensure(settings)
        if args.demo:
            return run_demo(args, settings)
        say(f"worker running against {settings.broker}; Ctrl-C stops it")
        return subprocess.call(worker_command(args, idle_s=None))
    except BrokerUnavailable as exc:
        print(f"telecorr up: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        say("interrupted; stopping what this command started")
        return 130
    finally:
        broker.stop()


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("up", parents=[common], help="start the broker (if needed) and a worker; --demo adds traffic")
    p.add_argument("--demo", action="store_true", help="simulate a shop with an injected fault and show the result")
    p.add_argument("--duration", type=float, default=120.0, metavar="SECONDS", help="simulated traffic (demo)")
    p.add_argument("--rps", type=float, default=30.0, help="simulated requests per second (demo)")
    p.add_argument("--seed", type=int, default=1, help="simulation seed (demo)")
    p.add_argument("--fault", default=DEMO_FAULT, metavar="SPEC", help=f"fault to inject (demo; default {DEMO_FAULT})")
    p.set_defaults(func=cmd_up)
