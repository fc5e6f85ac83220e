"""Every ClickHouse read the API makes, under per-query limits.

The limits travel with each query (a SETTINGS clause, not the session): read-only, a time
budget and result-size budgets, in rows and in bytes. readonly=2 rather than 1: both refuse every write and DDL,
but 1 also refuses the other settings of the same query, i.e. the limits themselves. A query
over budget raises instead of returning a silently cut answer ('throw', not 'break'), and the
error is turned into one the caller can act on (narrow the window, lower the limit).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor, TimeoutError
from dataclasses import dataclass

from clickhouse_connect.driver.exceptions import ClickHouseError

from pipeline.redact import redact
from pipeline.store.client import error_code
from pipeline.store.queries.health import RESYNC

_log = logging.getLogger("telecorr.api")
HEALTH_TIMEOUT_S = 3.0

# Defaults of the settings api_max_execution_s / api_max_result_rows / api_max_result_bytes.
DEFAULT_MAX_EXECUTION_S = 10.0
DEFAULT_MAX_RESULT_ROWS = 1_000_000
DEFAULT_MAX_RESULT_BYTES = 256 * 1024 * 1024

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
    max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES

    @classmethod
    def from_settings(cls, settings: object) -> ReadLimits:
        return cls(float(settings.api_max_execution_s), int(settings.api_max_result_rows),
                   int(settings.api_max_result_bytes))

    def query_settings(self) -> dict[str, object]:
        return {"readonly": 2, "max_execution_time": self.max_execution_s, "max_result_rows": self.max_result_rows,
                "max_result_bytes": self.max_result_bytes, "result_overflow_mode": "throw"}


class Reader:
    """Runs parameterised SELECTs with the limits attached; rows come back as dicts.

    Reads are serialised: the API answers from a thread pool, and a clickhouse-connect client
    allows one query at a time (chDB's handle, or a server session) anyway."""

    def __init__(self, client, limits: ReadLimits) -> None:
        self.client = client
        self.limits = limits
        self._lock = threading.Lock()
        self._probe = ThreadPoolExecutor(max_workers=1, thread_name_prefix="telecorr-health")
        self._busy_since: float | None = None  # monotonic start of the read under way, if any

    def rows(self, sql: str, params: dict | None = None) -> list[dict]:
        with self._lock:
            self._busy_since = time.monotonic()
            try:
                result = self.client.query(sql, parameters=params or {}, settings=self.limits.query_settings())
                names, rows = result.column_names, result.result_rows
            except ClickHouseError as exc:
                limit = self._limit_error(exc)
                if limit is not None and limit.status == 422:
                    self._resync()
                raise limit or exc
            finally:
                self._busy_since = None
        return [dict(zip(names, row)) for row in rows]

    def healthy(self, timeout_s: float = HEALTH_TIMEOUT_S) -> bool:
        """Whether ClickHouse answers, without taking the read lock, so a probe never queues
        behind a long read. A read under way and still within its time budget means the store
        is working (the embedded engine would only answer a ping after that read); otherwise
        ClickHouse must answer its ping within `timeout_s`. Never raises: the reason is logged
        (without secrets), not returned, so a public probe shows no internals."""
        busy_since = self._busy_since
        if busy_since is not None and time.monotonic() - busy_since < self.limits.max_execution_s + timeout_s:
            return True
        future = self._probe.submit(self.client.ping)
        try:
            return future.result(timeout_s) is True
        except TimeoutError:
            _log.warning("ClickHouse did not answer its ping within %.1f s", timeout_s)
        except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
            _log.warning("ClickHouse ping failed: %s", redact(f"{type(exc).__name__}: {exc}"))
        return False

    def _resync(self) -> None:
        """chDB (clickhouse-connect's embedded backend) hands the next query on a handle the
        leftovers of one stopped by max_execution_time; a throwaway query takes them."""
        try:
            self.client.query(RESYNC)
        except ClickHouseError:
            pass

    def _limit_error(self, exc: ClickHouseError) -> ReadLimitError | None:
        code = error_code(exc)
        if code == _TOO_MANY_ROWS and "max bytes" in str(exc):
            return ReadLimitError(f"the answer is larger than {self.limits.max_result_bytes} bytes "
                                  "(api_max_result_bytes); narrow the time range or lower the limit", 413)
        if code == _TOO_MANY_ROWS:
            return ReadLimitError(f"the answer has more than {self.limits.max_result_rows} rows "
                                  "(api_max_result_rows); narrow the time range or lower the limit", 413)
        if code == _TIMEOUT:
            return ReadLimitError(f"the query ran longer than {self.limits.max_execution_s:g} s "
                                  "(api_max_execution_s); narrow the time range or the query", 422)
        return None
