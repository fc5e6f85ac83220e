"""`telecorr worker`: run the Faust app in this process (the store's owner in embedded mode)."""

from __future__ import annotations

import argparse
import logging.config
import os
import sys
import time

from prometheus_client import start_http_server

from pipeline.config import SettingsError, load_settings
from pipeline.kafka.io import BrokerUnavailable, TopicMismatch, ensure_topics_blocking
from pipeline.worker.logjson import logging_config
from pipeline.query import QueryError, compile_rules, rules_from_setting
from pipeline.worker.selfmetrics import WorkerMetrics
from pipeline.store.client import StoreUnavailable, connect
from pipeline.store.migrate import migrate
from pipeline.store.writer import InsertFn, Sink, client_insert


def simulated_outage(insert: InsertFn, seconds: float) -> InsertFn:
    """Fault injection for the outage test: the store refuses every write for `seconds` after
    the first one, exactly as an unreachable ClickHouse would."""
    began: list[float] = []

    def failing(table, columns, names):
        began or began.append(time.monotonic())
        if time.monotonic() - began[0] < seconds:
            raise ConnectionError("simulated ClickHouse outage (TELECORR_TEST_STORE_OUTAGE_S)")
        insert(table, columns, names)
    return failing


class CannotStart(RuntimeError):
    """A start-up check failed; the message is what the operator reads."""


def prepare(settings):
    """Every check before anything runs: library versions, rules, topics, the store. Returns
    the topics' partition counts (as the broker has them) and the store client."""
    from agents.faust_compat import UntestedLibraries, check_versions

    try:
        untested = check_versions()  # the delivery patches were tested with these versions only
        if untested:
            print(f"telecorr worker: warning: {untested}", file=sys.stderr)
        compile_rules(rules_from_setting(settings.rules_file))  # a bad rule stops here, named (cached for the app)
        partitions = ensure_topics_blocking(settings)
        client = connect(settings.clickhouse)
        migrate(client, settings)
    except (BrokerUnavailable, StoreUnavailable, TopicMismatch, SettingsError, QueryError, UntestedLibraries) as exc:
        raise CannotStart(str(exc)) from exc
    return partitions, client


def make_sink(client, settings) -> Sink:
    insert = client_insert(client)
    if os.environ.get("TELECORR_TEST_STORE_OUTAGE_S"):
        insert = simulated_outage(insert, float(os.environ["TELECORR_TEST_STORE_OUTAGE_S"]))
    return Sink(insert, settings.sink_batch_rows, settings.sink_flush_s, settings.sink_retry_max_s,
                prompt_s=settings.sink_correlated_flush_s)


def serve_beside(args: argparse.Namespace, settings, metrics: WorkerMetrics):
    """The metrics endpoint and the API, when asked for; returns the API server (or None)."""
    host = args.host or settings.api_host
    if args.metrics_port:
        try:
            start_http_server(args.metrics_port, addr=host, registry=metrics.registry)
        except OSError as exc:
            raise CannotStart(f"cannot serve metrics on port {args.metrics_port}: {exc}") from exc
    if not args.api:
        return None
    from pipeline.api.server import serve_in_background

    # The API gets its own session on the same embedded engine: chDB is one process,
    # and a read-only API session must never share the writer's.
    try:
        return serve_in_background(settings, connect(settings.clickhouse), host,
                                   args.port or settings.api_port, extra_registries=(metrics.registry,))
    except OSError as exc:
        raise CannotStart(f"cannot serve the API: {exc}") from exc


def run_worker(args: argparse.Namespace) -> int:
    import faust  # imported here so other subcommands start fast

    from agents.app import create_app

    settings = load_settings(args)
    logging.config.dictConfig(logging_config("INFO"))
    metrics = WorkerMetrics()
    try:
        partitions, client = prepare(settings)
        app = create_app(settings, make_sink(client, settings), args.stop_when_idle, metrics, partitions)
        api = serve_beside(args, settings, metrics)
    except CannotStart as exc:
        print(f"telecorr worker: {exc}", file=sys.stderr)
        return 1
    worker = faust.Worker(app, loglevel="WARN", quiet=True, redirect_stdouts=False,
                          logging_config=logging_config("WARNING"))
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        if api is not None:
            api.stop()
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("worker", parents=[common], help="consume the input topics and store what they carry")
    p.add_argument("--stop-when-idle", dest="stop_when_idle", type=float, default=None, metavar="SECONDS",
                   help="flush and exit 0 once every input topic has been idle this long (backfills, CI)")
    p.add_argument("--api", action="store_true",
                   help="also serve the HTTP API from this process (embedded chDB belongs to one process)")
    p.add_argument("--host", default=None, help="address for --api and --metrics-port (default: api_host, 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="API port (default: api_port, 8080)")
    p.add_argument("--metrics-port", dest="metrics_port", type=int, default=None,
                   help="serve this worker's Prometheus metrics on this port (with --api they are also "
                        "on the API's /metrics)")
    p.set_defaults(func=run_worker)
