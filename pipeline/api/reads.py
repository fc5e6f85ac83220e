"""Every ClickHouse read the API makes, under per-query limits.

The limits travel with each query (a SETTINGS clause, not the session): read-only, a time
budget and a result-size budget. readonly=2 rather than 1: both refuse every write and DDL,
but 1 also refuses the other settings of the same query, i.e. the limits themselves. A query
over budget raises instead of returning a silently cut answer ('throw', not 'break'), and the
error is turned into one the caller can act on (narrow the window, lower the limit).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from clickhouse_connect.driver.exceptions import ClickHouseError

from pipeline.store.client import error_code

# Defaults of the settings api_max_execution_s / api_max_result_rows, for a settings object
# that lacks them.
DEFAULT_MAX_EXECUTION_S = 10.0
DEFAULT_MAX_RESULT_ROWS = 1_000_000

_TOO_MANY_ROWS = 396  # TOO_MANY_ROWS_OR_BYTES
_TIMEOUT = 159  # TIMEOUT_EXCEEDED


class ReadLimitError(Exception):
    """A read exceeded a configured limit; `status` is the HTTP status that explains it."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class ReadLimits:
    max_execution_s: float = DEFAULT_MAX_EXECUTION_S
    max_result_rows: int = DEFAULT_MAX_RESULT_ROWS

    @classmethod
    def from_settings(cls, settings: object) -> ReadLimits:
        return cls(float(settings.api_max_execution_s), int(settings.api_max_result_rows))

    def query_settings(self) -> dict[str, object]:
        return {"readonly": 2, "max_execution_time": self.max_execution_s,
                "max_result_rows": self.max_result_rows, "result_overflow_mode": "throw"}


class Reader:
    """Runs parameterised SELECTs with the limits attached; rows come back as dicts.

    Reads are serialised: the API answers from a thread pool, and a clickhouse-connect client
    allows one query at a time (chDB's handle, or a server session) anyway."""

    def __init__(self, client, limits: ReadLimits) -> None:
        self.client = client
        self.limits = limits
        self._lock = threading.Lock()

    def rows(self, sql: str, params: dict | None = None) -> list[dict]:
        with self._lock:
            try:
                result = self.client.query(sql, parameters=params or {}, settings=self.limits.query_settings())
                names, rows = result.column_names, result.result_rows
            except ClickHouseError as exc:
                limit = self._limit_error(exc)
                if limit is not None and limit.status == 422:
                    self._resync()
                raise limit or exc
        return [dict(zip(names, row)) for row in rows]

    def ping(self) -> None:
        """Raises unless ClickHouse answers `SELECT 1`."""
        if self.rows("SELECT 1 AS ok") != [{"ok": 1}]:
            raise ClickHouseError("SELECT 1 did not return 1")

    def _resync(self) -> None:
        """chDB (clickhouse-connect's embedded backend) hands the next query on a handle the
        leftovers of one stopped by max_execution_time; a throwaway query takes them."""
        try:
            self.client.query("SELECT 1")
        except ClickHouseError:
            pass

    def _limit_error(self, exc: ClickHouseError) -> ReadLimitError | None:
        code = error_code(exc)
        if code == _TOO_MANY_ROWS:
            return ReadLimitError(f"the answer has more than {self.limits.max_result_rows} rows "
                                  "(api_max_result_rows); narrow the time range or lower the limit", 413)
        if code == _TIMEOUT:
            return ReadLimitError(f"the query ran longer than {self.limits.max_execution_s:g} s "
                                  "(api_max_execution_s); narrow the time range or the query", 422)
        return None
