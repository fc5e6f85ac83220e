"""OTLP enum names as OTLP/JSON may spell them, mapped to their numbers."""

from __future__ import annotations

SPAN_KIND = {f"SPAN_KIND_{n}": i for i, n in enumerate(
    ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"))}
STATUS_CODE = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
TEMPORALITY = {"AGGREGATION_TEMPORALITY_UNSPECIFIED": 0, "AGGREGATION_TEMPORALITY_DELTA": 1,
               "AGGREGATION_TEMPORALITY_CUMULATIVE": 2}


def _severities() -> dict[str, int]:
    out = {"SEVERITY_NUMBER_UNSPECIFIED": 0}
    for base, level in enumerate(("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")):
        for step in range(4):
            out[f"SEVERITY_NUMBER_{level}{step + 1 if step else ''}"] = base * 4 + step + 1
    return out


SEVERITY_NUMBER = _severities()
