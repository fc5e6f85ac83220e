"""`telecorr …`: the one console script.

Each subcommand lives in the module that owns its work and exposes
`register(subparsers, common)`; this file only assembles them, so the common flags
(`--broker`, `--clickhouse`, `--topic-prefix`, `--config`) work before or after the
subcommand name.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from pipeline.config import SettingsError, common_parser

# Modules that contribute subcommands, in help order.
COMMAND_MODULES = (
    "pipeline.commands.up",
    "agents.commands",
    "pipeline.commands.inspect",
    "pipeline.commands.replay",
    "pipeline.commands.simulate",
    "pipeline.commands.match",
    "pipeline.commands.rca",
    "pipeline.commands.status",
    "pipeline.commands.api",
)


def build_parser() -> argparse.ArgumentParser:
    common = common_parser()
    parser = argparse.ArgumentParser(
        prog="telecorr", parents=[common],
        description="Correlate logs, metrics and trace spans from Kafka into ClickHouse, and rank root causes.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SettingsError as exc:
        print(f"telecorr: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
