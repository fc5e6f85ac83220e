"""`retention_days` applied at every start, to every table.

Migrations fill `{retention_days}` once, when a table is created; a later change of the setting
would otherwise do nothing. At start the TTL of each table in the database is read back from
ClickHouse, and a table whose retention differs from the setting gets `ALTER TABLE … MODIFY TTL`
with the same expression and the new number of days (ClickHouse then drops what the new TTL
expires). Tables are discovered, not listed, so a table a later migration adds is covered too.
"""

from __future__ import annotations

import logging
import re

from clickhouse_connect.driver.client import Client

_log = logging.getLogger("telecorr.store")

# How ClickHouse shows a TTL written as `expr + INTERVAL n DAY` in create_table_query.
_TTL = re.compile(r"\bTTL (?P<expr>.+?) \+ toIntervalDay\((?P<days>\d+)\)")
# Bookkeeping, not telemetry: the list of applied migrations is kept for good.
NO_TTL = frozenset({"schema_migrations"})


class RetentionError(ValueError):
    """retention_days cannot be applied as given."""


def table_ttls(client: Client) -> dict[str, tuple[str, int] | None]:
    """(TTL expression, days) of every MergeTree-family table of the current database."""
    rows = client.query("SELECT name, create_table_query FROM system.tables "
                        "WHERE database = currentDatabase() AND engine LIKE '%MergeTree'").result_rows
    out: dict[str, tuple[str, int] | None] = {}
    for name, ddl in rows:
        m = _TTL.search(ddl)
        out[name] = (m["expr"], int(m["days"])) if m else None
    return out


def apply_retention(client: Client, days: int) -> list[str]:
    """Bring every table's TTL to `days`; returns the tables changed now. A telemetry table
    without a TTL (a migration that forgot it) is named in a warning: it would grow for ever."""
    if int(days) < 1:
        raise RetentionError(f"retention_days must be at least 1 (got {days})")
    changed, missing = [], []
    for table, ttl in sorted(table_ttls(client).items()):
        if table in NO_TTL:
            continue
        if ttl is None:
            missing.append(table)
        elif ttl[1] != int(days):
            client.command(f"ALTER TABLE `{table}` MODIFY TTL {ttl[0]} + INTERVAL {int(days)} DAY")
            changed.append(table)
    if missing:
        _log.warning("tables without a TTL, not bounded by retention_days: %s (give each one "
                     "`TTL <time column> + INTERVAL {retention_days} DAY` in its migration)", ", ".join(missing))
    return changed
