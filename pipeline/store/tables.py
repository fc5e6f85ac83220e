"""The one definition of each table's columns: the packaged DDL, parsed at import.

Writers and readers take column lists from here rather than copying an order by hand, so a
migration that adds a column (ALTER ... ADD COLUMN ... AFTER) is seen by every list at once.
`written(table)` is what the writer sends: every column but the ones the server fills itself
(`DEFAULT now()`, the ingest clock). `doc_fields(kind)` is the field order of a trace_docs
document, read from the materialized view that builds it (schemas/005_trace_docs.sql).
"""

from __future__ import annotations

import re

from pipeline.store.migrate import SCHEMA_DIR, migration_files, split_statements

_CREATE = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+)\s*\((.*)\)\s*ENGINE", re.S)
_ADD = re.compile(r"^ALTER TABLE (\w+) ADD COLUMN IF NOT EXISTS (\w+) (.*?)(?: AFTER (\w+))?$", re.S)
_DOC_MV = re.compile(r"^CREATE MATERIALIZED VIEW IF NOT EXISTS trace_docs_(\w+)_mv .*?toJSONString\(tuple\(([^)]*)\)",
                     re.S)
_SERVER_FILLED = re.compile(r"\bDEFAULT now(64)?\(")
_MV_KIND = {"spans": "span", "correlated": "correlated", "logs": "log"}


def _split_columns(body: str) -> list[tuple[str, str]]:
    """(name, definition) of each column of a CREATE TABLE body; indexes are skipped."""
    out, depth, cur = [], 0, ""
    for ch in body + ",":
        if ch == "," and depth == 0:
            part = cur.strip()
            if part and not part.startswith("INDEX "):
                name, _, rest = part.partition(" ")
                out.append((name, rest))
            cur = ""
            continue
        depth += (ch == "(") - (ch == ")")
        cur += ch
    return out


def _parse() -> tuple[dict[str, list[tuple[str, str]]], dict[str, tuple[str, ...]]]:
    tables: dict[str, list[tuple[str, str]]] = {}
    docs: dict[str, tuple[str, ...]] = {}
    for _, path in migration_files(SCHEMA_DIR):
        for stmt in split_statements(path.read_text()):
            if m := _CREATE.match(stmt):
                tables[m.group(1)] = _split_columns(m.group(2))
            elif (m := _ADD.match(stmt)) and m.group(1) in tables:
                cols = tables[m.group(1)]
                if all(name != m.group(2) for name, _ in cols):
                    names = [name for name, _ in cols]
                    at = names.index(m.group(4)) + 1 if m.group(4) else len(cols)
                    cols.insert(at, (m.group(2), m.group(3)))
            elif m := _DOC_MV.match(stmt):
                docs[_MV_KIND[m.group(1)]] = tuple(f.strip() for f in m.group(2).split(","))
    return tables, docs


_TABLES, _DOCS = _parse()


def columns(table: str) -> tuple[str, ...]:
    """Every column of `table`, in the order the migrated table has them."""
    return tuple(name for name, _ in _TABLES[table])


def written(table: str) -> tuple[str, ...]:
    """The columns a writer sends to `table`: all but the server-filled ingest clock."""
    return tuple(name for name, spec in _TABLES[table] if not _SERVER_FILLED.search(spec))


def doc_fields(kind: str) -> tuple[str, ...]:
    """The field order of a trace_docs document of `kind` ('span', 'correlated', 'log')."""
    return _DOCS[kind]


SPAN_COLUMNS = written("spans")
LOG_COLUMNS = written("logs")
METRIC_COLUMNS = written("metrics")
DLQ_COLUMNS = written("dlq")
CORRELATED_COLUMNS = written("correlated_spans")
OFFSET_COLUMNS = written("clock_offsets")
