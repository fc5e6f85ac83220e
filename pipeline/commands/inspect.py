"""`telecorr config`, `telecorr skew` and `telecorr sql`: look at the effective settings and the
store without changing anything."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime

import orjson

from pipeline.config import load_settings
from pipeline.redact import redact
from pipeline.store.client import StoreUnavailable, connect
from pipeline.store.queries.status import LATEST_OFFSETS


def cmd_config(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    for key, value in settings.as_dict().items():  # a DSN's password is printed as ***
        print(redact(f"{key} = {orjson.dumps(value).decode()}"))
    print("topics = " + orjson.dumps({n: settings.topic(n) for n, _ in settings.declared_topics()}).decode())
    return 0


def _cell(value: object) -> str:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, (dict, list, tuple)):
        return orjson.dumps(value, default=str).decode()
    return str(value)


def cmd_sql(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    try:
        client = connect(settings.clickhouse)
        result = client.query(args.query, settings={"readonly": 1})
    except StoreUnavailable as exc:
        print(f"telecorr sql: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the engine's message is the useful part
        print(redact(f"telecorr sql: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}"), file=sys.stderr)
        return 2
    names = list(result.column_names)
    if args.format == "json":
        for row in result.result_rows:
            sys.stdout.write(orjson.dumps(dict(zip(names, row)), default=str,
                                          option=orjson.OPT_NON_STR_KEYS).decode() + "\n")
        return 0
    cells = [[_cell(v) for v in row] for row in result.result_rows]
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
    print("  ".join(n.ljust(w) for n, w in zip(names, widths)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    print(f"({len(cells)} row{'s' if len(cells) != 1 else ''})")
    return 0


def cmd_skew(args: argparse.Namespace) -> int:
    """The newest per-host clock offsets the correlation engine estimated."""
    settings = load_settings(args)
    try:
        client = connect(settings.clickhouse)
        rows = client.query(LATEST_OFFSETS).result_rows
    except StoreUnavailable as exc:
        print(f"telecorr skew: {exc}", file=sys.stderr)
        return 1
    if args.json:
        for host, off, wm, at in rows:
            print(orjson.dumps({"host": host, "offset_ns": off, "as_of_event_ns": wm, "updated_at": at}).decode())
        return 0
    if not rows:
        print("no clock offsets estimated yet (they need cross-host parent/child spans)")
    for host, off, wm, at in rows:
        print(f"{host:<24}{off / 1e6:>+12.1f} ms   (event time {wm}, written {at})")
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("config", parents=[common], help="print the effective settings")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("skew", parents=[common], help="print the estimated per-host clock offsets")
    p.add_argument("--json", action="store_true", help="one JSON object per host")
    p.set_defaults(func=cmd_skew)

    p = sub.add_parser("sql", parents=[common], help="run a read-only query against the configured ClickHouse")
    p.add_argument("query", metavar="SQL")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_sql)
