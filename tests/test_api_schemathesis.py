"""Property: whatever schemathesis generates from /openapi.json (valid and invalid input),
the API answers without a 5xx, and every 4xx is a JSON error naming the problem."""

from __future__ import annotations

import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from pipeline.api.app import create_app
from pipeline.config import Settings
from pipeline.store.migrate import migrate
from tests.test_api import SEARCH_LOGS, TRACE_LOGS, TRACE_METRICS, TRACE_SPANS, _insert

OPERATIONS = ["GET /v1/traces/{trace_id}", "POST /v1/logs/search", "GET /healthz", "GET /metrics",
              "GET /v1/metrics/series", "GET /v1/root-cause", "GET /openapi.json"]
EXAMPLES = 150


@pytest.fixture(scope="module")
def schema(chdb_root):
    import clickhouse_connect

    admin = clickhouse_connect.get_client(dsn=f"chdb://{chdb_root}")
    db = "t_" + uuid.uuid4().hex[:12]
    admin.command(f"CREATE DATABASE {db}")
    client = clickhouse_connect.get_client(dsn=f"chdb://{chdb_root}", database=db)
    migrate(client, Settings())
    _insert(client, TRACE_SPANS, TRACE_LOGS + SEARCH_LOGS, TRACE_METRICS)
    yield schemathesis.openapi.from_asgi("/openapi.json", create_app(Settings(), client))
    admin.command(f"DROP DATABASE IF EXISTS {db} SYNC")


def test_schema_lists_every_operation(schema):
    listed = {f"{op.ok().method.upper()} {op.ok().path}" for op in schema.get_all_operations()}
    assert listed == set(OPERATIONS) - {"GET /openapi.json"}


@pytest.mark.parametrize("label", OPERATIONS[:-1])
def test_no_server_errors(schema, label):
    op = schema.find_operation_by_label(label)
    strategy = st.one_of(op.as_strategy(GenerationMode.POSITIVE), op.as_strategy(GenerationMode.NEGATIVE))
    seen = []

    @given(case=strategy)
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case):
        response = case.call()
        seen.append(response.status_code)
        assert response.status_code < 500, (case.as_curl_command(), response.text)
        if response.status_code >= 400:
            assert response.json()["error"], response.text

    check()
    assert seen
