"""One way to reach ClickHouse: clickhouse-connect, for chDB (`chdb:///dir`) and servers alike."""

from __future__ import annotations

import re
from pathlib import Path

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from pipeline.redact import redact


_CODE = re.compile(r"Code: (\d+)\.")


def error_code(exc: BaseException) -> int | None:
    """ClickHouse's numeric error code: the driver's, else the one quoted in the message."""
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return code
    m = _CODE.search(str(exc))
    return int(m.group(1)) if m else None


class StoreUnavailable(RuntimeError):
    """ClickHouse cannot be opened or reached; the message says why in plain words."""


def connect(dsn: str, **settings) -> Client:
    """Open the configured ClickHouse. For chDB, make sure the data directory exists first and
    turn chDB's one-process lock into a sentence instead of an engine stack trace."""
    chdb_dir = _chdb_dir(dsn)
    if chdb_dir is not None:
        chdb_dir.mkdir(parents=True, exist_ok=True)
    try:
        return clickhouse_connect.get_client(dsn=dsn, settings=settings or None)
    except (ClickHouseError, OSError) as exc:
        if chdb_dir is not None and "EmbeddedServer" in str(exc):
            raise StoreUnavailable(
                f"the embedded ClickHouse at {chdb_dir} is in use by another process "
                "(chDB allows one process per data directory): stop that process, or serve the API "
                "from the worker with `telecorr worker --api`, or point --clickhouse at a ClickHouse server"
            ) from exc
        raise StoreUnavailable(redact(f"cannot open ClickHouse at {dsn}: {exc}")) from None


def _chdb_dir(dsn: str) -> Path | None:
    if not dsn.startswith("chdb://"):
        return None
    path = dsn[len("chdb://"):]
    return Path(path) if path else None
