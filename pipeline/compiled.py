"""Which hot modules are compiled with Cython, and whether this process runs them compiled.

The modules below are ordinary Python source (Cython's pure-Python mode): `pip install` turns
each into a C extension (setup.py reads COMPILED from this file, the one list of them), and the
same file runs unchanged when it is not compiled. Building uncompiled: TELECORR_PURE=1 at
install time. This file imports nothing from the package, so setup.py can read it before
anything is built.
"""

from __future__ import annotations

import importlib
import importlib.machinery

# Per-record work of the join and of reading its input (issue 19).
COMPILED = (
    "pipeline.shuffle.wirecheck",
    "pipeline.correlate.engine",
    "pipeline.correlate.joined_rows",
    "pipeline.correlate.skew",
    "pipeline.correlate.metric_index",
    "pipeline.correlate.trace_state",
    "pipeline.correlate.field_pool",
    # The ingest path's per-record work: spans into columns, re-keying, insert columns, and
    # the log stage's block scan and field detection.
    "pipeline.column_batch",
    "pipeline.ingest.decode.otlp_traces",
    "pipeline.ingest.decode.otlp_metrics",
    "pipeline.ingest.decode.records",
    "pipeline.shuffle.route",
    "pipeline.store.columnar",
    "pipeline.ingest.logs.textblock",
    "pipeline.ingest.logs.detect",
    "pipeline.ingest.logs.parse",
    "pipeline.ingest.logs.timestamps",
    "pipeline.ingest.logs.traceids",
    "pipeline.query.matcher",
)

# Set to "1" (or "true"/"yes") while installing to leave every module as plain Python.
PURE_ENV = "TELECORR_PURE"


def is_compiled(module: str) -> bool:
    """Whether `module` was loaded from a C extension rather than from its .py source."""
    path = getattr(importlib.import_module(module), "__file__", "") or ""
    return path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def build_status() -> dict[str, bool]:
    """module -> compiled, for every module in COMPILED (as this process imported them)."""
    return {m: is_compiled(m) for m in COMPILED}
