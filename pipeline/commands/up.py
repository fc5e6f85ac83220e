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
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson

from pipeline.kafka.broker import LocalBroker, ready_topics
from pipeline.config import Settings, SettingsError, load_settings
from pipeline.kafka.io import BrokerUnavailable, TopicMismatch, publish, wait_for_broker
from pipeline.store.queries.status import OFFSET_MEDIANS_MS, row_count

DEMO_FAULT = "type=error,target=payment,start=+50s,duration=40s"


class BrokerForUp:
    """The local broker (pipeline.kafka.broker), started only if nothing answers already, and
    stopped again only when this command started it."""

    def __init__(self, settings: Settings) -> None:
        host, _, port = settings.broker.rpartition(":")
        self.local = host in ("127.0.0.1", "localhost")
        self.broker = LocalBroker(int(port), Path(os.environ.get("TELECORR_STATE_DIR", ".telecorr")))
        self.started = False

    def ensure(self, settings: Settings) -> None:
        try:
            asyncio.run(wait_for_broker(settings.broker, timeout_s=1.5))
            return
        except BrokerUnavailable:
            if not self.local:
                raise
        self.broker.start()
        self.started = True
        try:
            asyncio.run(ready_topics(settings, 30.0))
        except TopicMismatch as exc:
            raise BrokerUnavailable(str(exc)) from exc
        say(f"started the local broker on 127.0.0.1:{self.broker.port}")

    def stop(self) -> None:
        if self.started:
            self.broker.stop()
            self.started = False
            say("stopped the local broker")


def say(text: str) -> None:
    print(f"telecorr: {text}", flush=True)


def free_port(host: str, wanted: int) -> int:
    """`wanted` when nothing listens there, else any free port (said aloud by the caller)."""
    with socket.socket() as sock:
        try:
            sock.bind((host, wanted))
            return wanted
        except OSError:
            sock.bind((host, 0))
            return sock.getsockname()[1]


def worker_command(args: argparse.Namespace, idle_s: float | None, api_port: int | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "pipeline.cli"]
    for flag, name in (("--broker", "broker"), ("--clickhouse", "clickhouse"), ("--topic-prefix", "topic_prefix"),
                       ("--config", "config")):
        if getattr(args, name, None) is not None:
            cmd += [flag, getattr(args, name)]
    cmd.append("worker")
    if idle_s is not None:
        cmd += ["--stop-when-idle", str(idle_s)]
    if api_port is not None:
        cmd += ["--api", "--host", "127.0.0.1", "--port", str(api_port)]
    return cmd


class Progress:
    """Reads the worker's structured stderr and keeps the newest progress event."""

    def __init__(self, proc: subprocess.Popen, published: int) -> None:
        self.latest: dict = {}
        self.final: dict = {}
        self.other: list[str] = []
        self.published = published
        threading.Thread(target=self._pump, args=(proc,), daemon=True).start()

    def _pump(self, proc: subprocess.Popen) -> None:
        for line in proc.stderr:
            if line.startswith('{"ts"'):
                event = orjson.loads(line)
                if event["event"] == "progress":
                    self.latest = event
                elif event["event"] == "idle-stop":
                    self.final = event
                elif event["event"] == "log":
                    self.other.append(f"{event.get('level', '')} {event.get('logger', '')}: {event.get('msg', '')}")
            elif line.strip():
                self.other.append(line.rstrip())

    def line(self) -> str:
        e = self.final or self.latest
        if not e:
            return "worker starting (joining the consumer group)…"
        stored = e["stored"]
        corr = e.get("correlation", {})
        lag = max(0, self.published - e["messages"])
        records = e["records"]
        records = sum(records.values()) if isinstance(records, dict) else records
        return (f"in {records} records ({e['messages']}/{self.published} messages, lag {lag}) | "
                f"out spans {stored.get('spans', 0)}, logs {stored.get('logs', 0)}, "
                f"metrics {stored.get('metrics', 0)}, correlated {stored.get('correlated_spans', 0)} | "
                f"traces completed {corr.get('traces_completed', 0)} | dead letters {e['dead_letters']}")


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
    port = free_port("127.0.0.1", args.port or int(settings.api_port))
    base = f"http://127.0.0.1:{port}"
    # The worker starts once the traffic is in Kafka, so its idle stop cannot fire early. It
    # owns the embedded store, so it also serves the API and report pages while it works.
    proc = subprocess.Popen(worker_command(args, idle_s=5.0, api_port=port), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    say(f"worker started (pid {proc.pid}); live report while it works: {base}/report/")
    progress = Progress(proc, sum(sent.values()))
    try:
        live, shown = sys.stdout.isatty(), ""
        while proc.poll() is None:
            text = progress.line()
            if live:
                print("\r" + text[:160].ljust(160), end="", flush=True)
            elif text != shown and (not shown or time.monotonic() - getattr(progress, "_shown_at", 0) >= 5):
                print(text, flush=True)
                shown = text
                progress._shown_at = time.monotonic()
            time.sleep(0.5)
        print(("\r" if live else "") + progress.line()[:160].ljust(160 if live else 0), flush=True)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
    if proc.returncode != 0:
        sys.stderr.write("\n".join(progress.other[-30:]) + "\n")
        say(f"the worker exited with code {proc.returncode}")
        return 1
    return answer_and_serve(args, settings, truth, port)


def answer_and_serve(args: argparse.Namespace, settings: Settings, truth: dict, port: int) -> int:
    """Find the symptom, rank its window, print the causes and the report URL; serve the report
    until Ctrl-C when asked to (or when a person is watching the terminal)."""
    from pipeline.commands.rca import format_answer
    from pipeline.rca import rank_window
    from pipeline.rca.symptoms import find_symptom
    from pipeline.store.client import connect

    client = connect(settings.clickhouse)
    show_stored(client)
    symptom = find_symptom(client, truth["start_ns"], truth["end_ns"])
    if symptom is None:
        say("no user-facing symptom stands out in the simulated traffic; ranking the whole run instead")
        lo, hi = truth["start_ns"] + (truth["end_ns"] - truth["start_ns"]) // 2, truth["end_ns"]
    else:
        lo, hi = symptom.from_ns, symptom.to_ns
        say(f"symptom: {symptom.describe()} from {_utc(lo)} to {_utc(hi)}")
    answer = rank_window(client, lo, hi, rules_file=settings.rules_file or None)
    print(format_answer(answer), flush=True)
    faults = truth.get("faults", [])
    top = answer["candidates"][0]["service"] if answer["candidates"] else None
    for fault in faults:
        verdict = "matches" if top == fault["service"] else "does NOT match"
        say(f"injected: {fault['type']} on {fault['target']} from {fault['start']} to {fault['end']}: "
            f"the top candidate {verdict} it")
    url = f"http://127.0.0.1:{port}/report/window?from={lo}&to={hi}"
    keep = args.keep_running if args.keep_running is not None else sys.stdin.isatty()
    if not keep:
        say(f"report page (served while `telecorr up --demo` keeps running, or by `telecorr api`): {url}")
        return 0
    from pipeline.api.server import serve_in_background

    server = serve_in_background(settings, connect(settings.clickhouse), "127.0.0.1", port)
    say(f"report page: {url}")
    say("serving the API and report pages; Ctrl-C stops everything this command started")
    try:
        while True:
            time.sleep(3600)
    finally:
        server.stop(timeout_s=5.0)


def _utc(ns: int) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ns / 1e9, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def show_stored(client) -> None:
    """What landed, so a newcomer sees every stage did its part."""
    q = client.query
    tables = ("spans", "logs", "metrics", "correlated_spans", "dlq")
    counts = {t: q(row_count(t)).result_rows[0][0] for t in tables}
    say("stored: " + ", ".join(f"{t} {n}" for t, n in counts.items()))
    offsets = q(OFFSET_MEDIANS_MS).result_rows
    say("estimated clock offsets (ms, relative): " + ", ".join(f"{h} {o:+g}" for h, o in offsets))


def cmd_up(args: argparse.Namespace) -> int:
    # Ctrl-C must stop the stack even when this process was started with SIGINT ignored
    # (a background job of a script, or a test runner that ignores it): Python keeps an
    # inherited "ignore" and would never raise KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    settings = load_settings(args)
    broker = BrokerForUp(settings)
    try:
        broker.ensure(settings)
        if args.demo:
            return run_demo(args, settings)
        port = free_port("127.0.0.1", args.port or int(settings.api_port))
        say(f"worker running against {settings.broker}, API and report pages on http://127.0.0.1:{port}/report/; "
            "Ctrl-C stops it")
        return subprocess.call(worker_command(args, idle_s=None, api_port=port))
    except (BrokerUnavailable, SettingsError) as exc:
        print(f"telecorr up: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        say("interrupted; stopping what this command started")
        broker.stop()
        # Everything this command started is stopped now. Skip the interpreter's teardown:
        # with the embedded engine's sessions and the API thread still alive it can block
        # (seen once under load), and a Ctrl-C must end the command.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    finally:
        broker.stop()


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("up", parents=[common], help="start the broker (if needed) and a worker; --demo adds traffic")
    p.add_argument("--demo", action="store_true", help="simulate a shop with an injected fault and show the result")
    p.add_argument("--duration", type=float, default=120.0, metavar="SECONDS", help="simulated traffic (demo)")
    p.add_argument("--rps", type=float, default=30.0, help="simulated requests per second (demo)")
    p.add_argument("--seed", type=int, default=1, help="simulation seed (demo)")
    p.add_argument("--fault", default=DEMO_FAULT, metavar="SPEC", help=f"fault to inject (demo; default {DEMO_FAULT})")
    p.add_argument("--port", type=int, default=None, help="API and report port (default: the api_port setting, "
                                                          "or a free one when that is taken)")
    keep = p.add_mutually_exclusive_group()
    keep.add_argument("--keep-running", dest="keep_running", action="store_true", default=None,
                      help="after the demo's answer, keep serving the report until Ctrl-C "
                           "(the default when run in a terminal)")
    keep.add_argument("--no-keep-running", dest="keep_running", action="store_false",
                      help="exit after the demo's answer (the default when not in a terminal)")
    p.set_defaults(func=cmd_up)
