"""`telecorr api`: serve the HTTP API from its own process over the configured store."""

from __future__ import annotations

import argparse
import os
import sys

from clickhouse_connect.driver.exceptions import ClickHouseError

from pipeline.api.reads import error_code
from pipeline.config import load_settings
from pipeline.store.client import StoreUnavailable, connect
from pipeline.store.migrate import migrate


# READONLY, ACCESS_DENIED: the user may read but not create tables.
_READ_ONLY_CODES = frozenset({164, 497})


def cmd_api(args: argparse.Namespace) -> int:
    from pipeline.api.server import UnprotectedBind, check_exposure, serve  # FastAPI/uvicorn load only here

    settings = load_settings(args)
    host = args.host if args.host is not None else settings.api_host
    port = args.port if args.port is not None else settings.api_port
    try:
        client = connect(settings.clickhouse)
        migrate(client, settings)
    except StoreUnavailable as exc:
        print(f"telecorr api: {exc}", file=sys.stderr)
        return 1
    except ClickHouseError as exc:
        if error_code(exc) not in _READ_ONLY_CODES:
            raise
        # A read-only user (what the compose file gives the API): the workers own the schema.
        print("telecorr api: read-only ClickHouse user, schema migrations are left to the workers", file=sys.stderr)
    try:
        check_exposure(host, os.environ.get("TELECORR_API_TOKEN", ""))
    except UnprotectedBind as exc:
        print(f"telecorr api: {exc}", file=sys.stderr)
        return 1
    print(f"telecorr api: serving on http://{host}:{port}", file=sys.stderr)
    serve(settings, client, host, port)
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("api", parents=[common], help="serve the HTTP API (traces, log search, metrics)")
    p.add_argument("--host", default=None, help="address to listen on (default: setting api_host, 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port to listen on (default: setting api_port, 8080)")
    p.set_defaults(func=cmd_api)
