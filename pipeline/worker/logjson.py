"""Structured log lines: one JSON object per record on stderr, shaped like the worker's
progress events (`{"ts", "event", ...}`), so a log shipper or `telecorr up` reads one format."""

from __future__ import annotations

import logging

import orjson

from pipeline.redact import redact


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": record.created, "event": "log", "level": record.levelname.lower(), "logger": record.name,
               "msg": redact(record.getMessage())}
        if record.exc_info:
            out["exception"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(out, default=str).decode()


def logging_config(level: str = "WARNING") -> dict:
    """A dictConfig that sends every logger's records to stderr as JSON lines."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"level": level, "handlers": ["stderr"]},
    }
