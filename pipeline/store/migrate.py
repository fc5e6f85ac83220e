"""Versioned schema migrations from pipeline/schemas/NNN_name.sql (package data, read with
importlib.resources, so an installed wheel migrates without a checkout), applied at start and
re-runnable.

Each file is applied once, in order, and recorded in `schema_migrations`; statements also use
IF NOT EXISTS, so a crash between a statement and the record is harmless on the next start.
"""

from __future__ import annotations

import re
from importlib.resources import files
from importlib.resources.abc import Traversable

from clickhouse_connect.driver.client import Client

from pipeline.config import Settings
from pipeline.store.retention import apply_retention

SCHEMA_DIR: Traversable = files("pipeline") / "schemas"
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def migration_files(directory: Traversable = SCHEMA_DIR) -> list[tuple[int, Traversable]]:
    files = sorted((int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name)))
    versions = [v for v, _ in files]
    if len(versions) != len(set(versions)):
        raise ValueError(f"two migrations share a version in {directory}")
    return files


def split_statements(sql: str) -> list[str]:
    """Split on ';' at line ends, dropping '--' comment lines (the DDL holds no ';' in strings)."""
    lines = [ln for ln in sql.splitlines() if not ln.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def migrate(client: Client, settings: Settings, directory: Traversable = SCHEMA_DIR) -> list[int]:
    """Apply the migrations not yet recorded, then bring every table's TTL to the current
    `retention_days` (store/retention.py); returns the versions applied now."""
    client.command(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, "
        "applied_at DateTime DEFAULT now()) ENGINE = ReplacingMergeTree ORDER BY version"
    )
    done = {row[0] for row in client.query("SELECT version FROM schema_migrations FINAL").result_rows}
    applied = []
    for version, path in migration_files(directory):
        if version in done:
            continue
        sql = path.read_text().replace("{retention_days}", str(int(settings.retention_days)))
        for statement in split_statements(sql):
            client.command(statement)
        client.insert("schema_migrations", [[version, path.name]], column_names=["version", "name"])
        applied.append(version)
    apply_retention(client, settings.retention_days)
    return applied
