"""The one definition of each table's columns: the packaged DDL, parsed at import.

Writers and readers take column lists from here rather than copying an order by hand, so a
migration that adds a column (ALTER ... ADD COLUMN ... AFTER) is seen by every list at once.
`written(table)` is what the writer sends: every column but the ones the server fills itself
(`DEFAULT now()`, the ingest clock). `input_table(table)` is where the writer's JSON inserts
go: the Null-engine twin a materialized view copies into `table` (schemas/008_insert_inputs.sql),
or `table` itself. `doc_fields(kind)` is the field order of a trace_docs document, read from the
materialized view that builds it (schemas/005_trace_docs.sql).
"""

from __future__ import annotations

import re

from pipeline.store.migrate import SCHEMA_DIR, migration_files, split_statements

_CREATE = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+)\s*\((.*)\)\s*ENGINE", re.S)
_ADD = re.compile(r"^ALTER TABLE (\w+) ADD COLUMN IF NOT EXISTS (\w+) (.*?)(?: AFTER (\w+))?$", re.S)
_DOC_MV = re.compile(r"^CREATE MATERIALIZED VIEW IF NOT EXISTS trace_docs_(\w+)_mv .*?toJSONString\(tuple\(([^)]*)\)",
                     re.S)
_INPUT_MV = re.compile(r"^CREATE MATERIALIZED VIEW IF NOT EXISTS \w+ TO (\w+) AS\s+SELECT \* FROM (\w+)$")
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


def _parse() -> tuple[dict[str, list[tuple[str, str]]], dict[str, tuple[str, ...]], dict[str, str]]:
    tables: dict[str, list[tuple[str, str]]] = {}
    docs: dict[str, tuple[str, ...]] = {}
    inputs: dict[str, str] = {}
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
            elif m := _INPUT_MV.match(stmt):
                inputs[m.group(1)] = m.group(2)
    return tables, docs, inputs


_TABLES, _DOCS, _INPUTS = _parse()


def columns(table: str) -> tuple[str, ...]:
    """Every column of `table`, in the order the migrated table has them."""
    return tuple(name for name, _ in _TABLES[table])


def written(table: str) -> tuple[str, ...]:
    """The columns a writer sends to `table`: all but the server-filled ingest clock."""
    return tuple(name for name, spec in _TABLES[table] if not _SERVER_FILLED.search(spec))


def _written_types(table: str) -> dict[str, str]:
    """name -> type (without codec or default) of each column a writer sends to `table`."""
    sent = set(written(table))
    return {name: spec.split(" CODEC")[0].split(" DEFAULT")[0].strip()
            for name, spec in _TABLES[table] if name in sent}


def float_columns(table: str) -> tuple[frozenset[str], frozenset[str]]:
    """Written columns of `table` holding floats: (those that cannot be NULL, whether a float
    stands alone, in arrays or as map values; the Nullable(Float...) ones)."""
    types = _written_types(table)
    nullable = frozenset(n for n, t in types.items() if t.startswith("Nullable(Float"))
    return frozenset(n for n, t in types.items() if "Float" in t) - nullable, nullable


# What each integer type holds. A JSON number beyond its column's range is not refused by
# ClickHouse: it wraps (2^40 into Int32 stores 0, 300 into UInt8 stores 44).
_INT_RANGES = {f"{s}Int{b}": ((-(1 << (b - 1)), (1 << (b - 1)) - 1) if s == "" else (0, (1 << b) - 1))
               for s in ("", "U") for b in (8, 16, 32, 64)}
_WRAPPERS = re.compile(r"^(?:Nullable|LowCardinality)\((.*)\)$")


def int_columns(table: str) -> tuple[tuple[str, int, int, str], ...]:
    """Written integer columns of `table`: (name, lowest, highest, where the integers sit: ''
    for the value itself, 'array' for an array's items, 'map' for a map's values)."""
    out = []
    for name, typ in _written_types(table).items():
        shape = ""
        if typ.startswith("Array("):
            typ, shape = typ[6:-1], "array"
        elif typ.startswith("Map("):
            typ, shape = typ[4:-1].rsplit(",", 1)[1].strip(), "map"
        while m := _WRAPPERS.match(typ):
            typ = m.group(1)
        if typ in _INT_RANGES:
            out.append((name, *_INT_RANGES[typ], shape))
    return tuple(out)


def input_table(table: str) -> str:
    """Where inserts into `table` are sent: its Null-engine twin if it has one, else itself."""
    return _INPUTS.get(table, table)


def _check_inputs() -> None:
    """A twin must take exactly the columns the writer sends, in the same order: a column added
    to a table but not to its twin would otherwise fail every insert (or, added to the twin
    only, be dropped by its view)."""
    for table, twin in _INPUTS.items():
        if columns(twin) != written(table):
            raise RuntimeError(f"schema: {twin} columns {columns(twin)} differ from what is written to "
                               f"{table} {written(table)}; add the column to both in the migration")


def doc_fields(kind: str) -> tuple[str, ...]:
    """The field order of a trace_docs document of `kind` ('span', 'correlated', 'log')."""
    return _DOCS[kind]


_check_inputs()

SPAN_COLUMNS = written("spans")
LOG_COLUMNS = written("logs")
METRIC_COLUMNS = written("metrics")
DLQ_COLUMNS = written("dlq")
CORRELATED_COLUMNS = written("correlated_spans")
OFFSET_COLUMNS = written("clock_offsets")
