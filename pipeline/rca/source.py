"""Where the ranking reads from: a clickhouse-connect client, or the API's limited Reader.

The ranking only needs "run this parameterised SELECT, give me rows as dicts"; the API passes
its Reader (read-only, time and size limits), the CLI and the evaluation a plain client.
"""

from __future__ import annotations

from typing import Protocol


class Rows(Protocol):
    def rows(self, sql: str, params: dict | None = None) -> list[dict]: ...


class ClientRows:
    """`Rows` over a bare clickhouse-connect client."""

    def __init__(self, client) -> None:
        self.client = client

    def rows(self, sql: str, params: dict | None = None) -> list[dict]:
        res = self.client.query(sql, parameters=params or {})
        names = res.column_names
        return [dict(zip(names, r)) for r in res.result_rows]


def as_rows(source) -> Rows:
    return source if hasattr(source, "rows") else ClientRows(source)
