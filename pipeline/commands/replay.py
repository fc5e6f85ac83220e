"""`telecorr replay`: telemetry files (OTLP JSON or protobuf, JSON lines, text) to the input topics."""

from __future__ import annotations

import argparse
import gzip
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson

from pipeline.config import load_settings
from pipeline.ingest.framing import FramingError, JSONFramingError, json_documents, read_delimited
from pipeline.kafka.io import MAX_REQUEST_BYTES, BrokerUnavailable, publish

SIGNAL_TOPIC = {"traces": "otlp_spans", "logs": "otlp_logs", "metrics": "otlp_metrics"}
_OTLP_KEYS = {b"resourceSpans": "traces", b"resourceLogs": "logs", b"resourceMetrics": "metrics",
              b"resource_spans": "traces", b"resource_logs": "logs", b"resource_metrics": "metrics"}
# Line-oriented inputs are packed into Kafka messages of at most this many lines / bytes.
PACK_LINES, PACK_BYTES = 500, 512 * 1024
# An OTLP/JSON request larger than this is split by resource before it is published.
MAX_REQUEST_VALUE = 4 * 1024 * 1024


class ReplayError(ValueError):
    """A replay input is not what its format says; the message names the file and line."""


def _open(path: str) -> bytes:
    data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def guess_format(path: str, data: bytes) -> str:
    """Pick a format from the file name, then the first bytes (`--format auto`)."""
    name = path.removesuffix(".gz")
    if name.endswith((".binpb", ".pb", ".proto")):
        return "otlp-proto"
    first = data.lstrip()[:4096]
    if first.startswith((b"{", b"[")):
        return "otlp-json" if any(b'"' + k + b'"' in first for k in _OTLP_KEYS) else "jsonl"
    return "text"


def otlp_signal(doc: object, forced: str | None, where: str) -> str:
    if forced:
        return forced
    if type(doc) is dict:
        for key, signal in _OTLP_KEYS.items():
            if key.decode() in doc:
                return signal
    raise ReplayError(f"{where}: not an OTLP/JSON export request (no resourceSpans/resourceLogs/resourceMetrics); "
                      "use --signal or --format")


def otlp_requests(data: bytes, path: str) -> list[tuple[object, bytes]]:
    """The OTLP/JSON requests of a file: one document (pretty-printed or not), JSON lines, or
    documents back to back. A document too big for one Kafka message is split by resource."""
    try:
        docs = json_documents(data)
    except JSONFramingError as exc:
        raise ReplayError(f"{path}: {exc}") from None
    out = []
    for doc, raw in docs:
        if len(raw) <= MAX_REQUEST_VALUE or type(doc) is not dict:
            out.append((doc, raw))
            continue
        out += [(part, orjson.dumps(part)) for part in _split_request(doc)]
    return out


def _split_request(doc: dict) -> list[dict]:
    """A request cut into requests of one resource each (the unit OTLP groups records by)."""
    for key in ("resourceSpans", "resourceLogs", "resourceMetrics", "resource_spans", "resource_logs", "resource_metrics"):
        if type(doc.get(key)) is list and len(doc[key]) > 1:
            return [{**doc, key: [res]} for res in doc[key]]
    return [doc]


def _packed_lines(lines: list[bytes]) -> Iterator[bytes]:
    chunk: list[bytes] = []
    size = 0
    for line in lines:
        if chunk and (len(chunk) >= PACK_LINES or size + len(line) > PACK_BYTES):
            yield b"\n".join(chunk)
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        yield b"\n".join(chunk)


def replay_messages(paths: list[str], fmt: str | None, signal: str | None,
                    counts: dict[str, int]) -> Iterator[tuple[str, bytes | None, bytes]]:
    """Turn replay files into (logical topic, key, value) messages; `counts` tallies input units."""
    for path in paths:
        data = _open(path)
        kind = guess_format(path, data) if fmt in (None, "auto") else fmt
        if kind == "otlp-json":
            for n, (doc, value) in enumerate(otlp_requests(data, path), 1):
                sig = otlp_signal(doc, signal, f"{path}: request {n}")
                if len(value) > MAX_REQUEST_BYTES - 64 * 1024:
                    raise ReplayError(f"{path}: request {n} is {len(value)} bytes even split by resource, "
                                      "more than one Kafka message takes; write it as JSON lines of smaller requests")
                counts[f"{sig} requests"] = counts.get(f"{sig} requests", 0) + 1
                yield SIGNAL_TOPIC[sig], None, value
        elif kind == "otlp-proto":
            sig = signal or next((s for s in SIGNAL_TOPIC if s in Path(path).name), None)
            if sig is None:
                raise ReplayError(f"{path}: cannot tell which signal this protobuf file holds; use --signal")
            for frame in read_delimited(data, path):
                counts[f"{sig} requests"] = counts.get(f"{sig} requests", 0) + 1
                yield SIGNAL_TOPIC[sig], None, frame
        elif kind in ("jsonl", "text"):
            lines = [ln for ln in data.splitlines() if ln.strip()]
            counts[f"{kind} lines"] = counts.get(f"{kind} lines", 0) + len(lines)
            topic = "telemetry.events" if kind == "jsonl" else "telemetry.raw_logs"
            for value in _packed_lines(lines):
                yield topic, None, value
        else:
            raise ReplayError(f"unknown format {kind!r}")


def cmd_replay(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    counts: dict[str, int] = {}
    try:
        sent = publish(settings, replay_messages(args.files, args.format, args.signal, counts))
    except (ReplayError, FramingError, OSError) as exc:
        print(f"telecorr replay: {exc}", file=sys.stderr)
        return 2
    except BrokerUnavailable as exc:
        print(f"telecorr replay: {exc}", file=sys.stderr)
        return 1
    for unit, n in sorted(counts.items()):
        print(f"read {n} {unit}")
    for logical, n in sorted(sent.items()):
        print(f"sent {n} messages to {settings.topic(logical)}")
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("replay", parents=[common], help="publish telemetry files (gzip allowed) to the input topics")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--format", choices=["auto", "otlp-json", "otlp-proto", "jsonl", "text"], default="auto",
                   help="input format; auto (the default) tells them apart by the name and first bytes. "
                        "otlp-json takes one request per file (pretty-printed or not), JSON lines or "
                        "requests back to back")
    p.add_argument("--signal", choices=sorted(SIGNAL_TOPIC), default=None,
                   help="which signal OTLP input holds (default: read from each request)")
    p.set_defaults(func=cmd_replay)
