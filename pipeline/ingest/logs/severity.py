"""Severity words and numbers from many logging libraries onto OTLP's 1..24 scale.

Rules and queries compare one vocabulary, so parsing stores the canonical OTLP short name
(TRACE, DEBUG, INFO, WARN, ERROR, FATAL) next to the number, whatever the source spelled.
"""

from __future__ import annotations

# OTLP SeverityNumber ranges: 1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN, 17-20 ERROR, 21-24 FATAL.
_NAMES = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")

_WORDS: dict[str, int] = {
    "trace": 1, "finest": 1, "finer": 2, "fine": 5, "verbose": 1, "debug": 5, "dbg": 5,
    "config": 7, "info": 9, "information": 9, "informational": 9, "notice": 10,
    "warn": 13, "warning": 13, "wrn": 13, "error": 17, "err": 17, "eror": 17, "severe": 18,
    "dpanic": 19, "crit": 21, "critical": 21, "fatal": 21, "alert": 23, "panic": 24,
    "emerg": 24, "emergency": 24,
    # One-letter levels (klog, Android, Serilog-style abbreviations).
    "t": 1, "d": 5, "i": 9, "w": 13, "e": 17, "f": 21, "c": 21,
    "trc": 1, "dbug": 5, "inf": 9, "ftl": 21, "fat": 21,
}

# RFC 5424 section 6.2.1 severities 0 (emergency) .. 7 (debug).
_SYSLOG = (24, 23, 21, 17, 13, 10, 9, 5)


def severity_name(number: int) -> str:
    """The canonical short name for an OTLP severity number ('' when unset)."""
    if 1 <= number <= 24:
        return _NAMES[(number - 1) // 4]
    return ""


def from_syslog(code: int) -> int:
    """OTLP number for a syslog severity code 0..7."""
    return _SYSLOG[code] if 0 <= code <= 7 else 0


def from_name(word: str) -> int:
    """OTLP number for a level word ('WARNING', 'err', 'I'), or 0 when unknown."""
    return _WORDS.get(word.strip().lower(), 0)


def from_value(value: object) -> int:
    """OTLP number for a level field value: a word, a syslog code, or a pino/bunyan number."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, str):
        n = from_name(value)
        if n or not value.strip().isdigit():
            return n
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        if 0 <= value <= 7:
            return from_syslog(value)
        # pino / bunyan: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal.
        if value in (10, 20, 30, 40, 50, 60):
            return (1, 5, 9, 13, 17, 21)[value // 10 - 1]
    return 0
