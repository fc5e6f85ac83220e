"""One settings object, filled from defaults < config file < environment < command-line flags.

Every subcommand reads the same `Settings`, so `telecorr config` can print exactly what a
worker would use. Environment variables are `TELECORR_<NAME>` for every field; the config
file (TOML, `--config FILE` or `TELECORR_CONFIG`) uses the field names as keys.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

# Package data (shipped in the wheel, never read from a checkout): the declarative topic list.
TOPICS_FILE = files("pipeline") / "topics.txt"


def _default_clickhouse() -> str:
    return "chdb://" + str(Path(".telecorr/chdb").resolve())


@dataclass(slots=True)
class Settings:
    broker: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    clickhouse: str = field(default_factory=_default_clickhouse)
    # Consumer side: how many Kafka messages an agent takes at once, and how long it waits
    # (a record waits this long twice, once per hop, before its trace can be correlated).
    consume_batch: int = 500
    consume_within_s: float = 0.2
    # Batches per agent whose store write may be under way at once (decode overlaps insert).
    max_inflight_batches: int = 4
    # Sink side: rows buffered per table before a flush, and the longest a row waits.
    sink_batch_rows: int = 20000
    sink_flush_s: float = 0.25
    # The longest a correlated row waits (they are what the API is asked for right after a
    # trace completes; the input tables keep sink_flush_s).
    sink_correlated_flush_s: float = 0.05
    sink_retry_max_s: float = 30.0
    # Size limits (pipeline/ingest/decode/limits.py): one attribute value, one log body, one record
    # (over it its largest values are cut), records read from one message, and input bytes
    # and (estimated) records per decoded run of a consumed batch.
    max_attr_bytes: int = 32 * 1024
    max_body_bytes: int = 256 * 1024
    max_record_bytes: int = 512 * 1024
    max_records_per_message: int = 10_000
    max_batch_bytes: int = 16 * 1024 * 1024
    max_batch_records: int = 200_000
    # Kafka group settings; a short session timeout keeps the local broker's first join quick.
    group_id: str = "telecorr"
    session_timeout_s: float = 6.0
    # Partition counts for topics created by telecorr, over the packaged list (topics.txt):
    # "otlp_spans=8,telemetry.by_trace=8". Existing topics must match it (checked at start).
    topic_partitions: str = ""
    # Storage.
    retention_days: int = 30
    # Log parsing.
    log_default_tz: str = "UTC"
    rules_file: str = ""
    # Correlation windows (README "Correlation", docs/architecture.md).
    log_window_s: float = 1.0
    metric_window_s: float = 2.0
    trace_inactivity_s: float = 5.0
    max_lateness_s: float = 300.0
    max_skew_s: float = 10.0
    skew_correction: bool = True
    # Correlation memory per worker: caps on traces held (in flight or kept for late amends)
    # and on their buffered spans + logs; past either, the oldest traces complete early.
    max_inflight_traces: int = 200_000
    max_buffered_records: int = 2_000_000
    # Trace sampling at completion: share kept by trace-id hash; traces with an error, or a
    # span at least slow_span_s long (0: rule off), are always kept.
    sample_rate: float = 1.0
    slow_span_s: float = 0.0
    # Seconds between the worker's structured progress lines.
    progress_s: float = 2.0
    # API.
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    # Per-query ClickHouse limits for API reads.
    api_max_execution_s: float = 10.0
    api_max_result_rows: int = 1_000_000
    # ... and on the bytes an answer may hold (rows of large log bodies are few but heavy),
    # and the largest request body the API reads.
    api_max_result_bytes: int = 256 * 1024 * 1024
    api_max_body_bytes: int = 256 * 1024

    def topic(self, name: str) -> str:
        """The configured Kafka topic name for a logical topic from topics.txt."""
        return self.topic_prefix + name

    def declared_topics(self) -> list[tuple[str, int]]:
        """The packaged topic list with `topic_partitions` applied: what telecorr creates."""
        counts = dict(read_topics())
        for item in filter(None, (part.strip() for part in self.topic_partitions.split(","))):
            name, _, n = item.partition("=")
            if name.strip() not in counts or not n.strip().isdigit() or int(n) < 1:
                raise SettingsError(f"setting topic_partitions: {item!r} is not <topic>=<partitions> for a topic "
                                    f"of the list ({', '.join(counts)})")
            counts[name.strip()] = int(n)
        return list(counts.items())

    def as_dict(self) -> dict:
        return asdict(self)


def _coerce(name: str, raw: object) -> object:
    kind = type(getattr(Settings(), name))
    if isinstance(raw, kind):
        return raw
    if kind is bool:
        return str(raw).lower() in ("1", "true", "yes", "on")
    try:
        return kind(raw)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"setting {name}: cannot read {raw!r} as {kind.__name__}") from exc


class SettingsError(ValueError):
    """A setting could not be read; the message names it."""


def load_settings(args: argparse.Namespace | None = None, env: dict[str, str] | None = None) -> Settings:
    """Resolve settings from defaults, the config file, the environment and parsed flags."""
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    names = {f.name for f in fields(Settings)}
    config_path = getattr(args, "config", None) or env.get("TELECORR_CONFIG")
    if config_path:
        try:
            with open(config_path, "rb") as fh:
                data = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"config file {config_path}: {exc}") from exc
        unknown = set(data) - names
        if unknown:
            raise SettingsError(f"config file {config_path}: unknown settings {sorted(unknown)}")
        values.update(data)
    for name in names:
        key = "TELECORR_" + name.upper()
        if key in env:
            values[name] = env[key]
    if args is not None:
        for name in names:
            v = getattr(args, name, None)
            if v is not None:
                values[name] = v
    return Settings(**{k: _coerce(k, v) for k, v in values.items()})


def common_parser() -> argparse.ArgumentParser:
    """Flags every subcommand takes, before or after the subcommand name."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("common")
    g.add_argument("--broker", default=argparse.SUPPRESS, metavar="HOST:PORT",
                   help="Kafka bootstrap address (env TELECORR_BROKER, default 127.0.0.1:9092)")
    g.add_argument("--clickhouse", default=argparse.SUPPRESS, metavar="DSN",
                   help="ClickHouse DSN: chdb:///dir (embedded) or http://host:8123 (env TELECORR_CLICKHOUSE)")
    g.add_argument("--topic-prefix", dest="topic_prefix", default=argparse.SUPPRESS, metavar="P",
                   help="prefix for every topic name (env TELECORR_TOPIC_PREFIX)")
    g.add_argument("--config", default=argparse.SUPPRESS, metavar="FILE",
                   help="TOML settings file (env TELECORR_CONFIG)")
    return p


def read_topics(path: Traversable | Path = TOPICS_FILE) -> list[tuple[str, int]]:
    """The declarative topic list: `name partitions` per line, '#' comments."""
    out = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, parts = line.split()
            out.append((name, int(parts)))
    return out
