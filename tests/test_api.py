"""The HTTP API with a real client against chDB-backed data: traces, log search, errors,
auth, limits, health and metrics."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from pipeline.api.app import create_app
from pipeline.api.logsearch import LOG_COLUMNS
from pipeline.api.reads import Reader, ReadLimitError, ReadLimits
from pipeline.config import Settings
from pipeline.model import LogRecord, MetricPoint, Span
from pipeline.query import QueryError, Rule, RuleMatcher, to_sql
from pipeline.store import columnar as rows
from pipeline.store.migrate import migrate
from pipeline.store.writer import client_insert

S = 1_000_000_000
T0 = 1_790_000_000 * S  # 2026-09-21T14:13:20Z, a whole second
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SHORT = "00f067aa0ba902b7"  # a 64-bit id, stored left-padded to 32 digits
ROOT, CART, DB = "a" * 16, "b" * 16, "c" * 16


def _settings(**over) -> SimpleNamespace:
    return SimpleNamespace(**{**Settings().as_dict(), **over})


def _span(span_id: str, parent: str, service: str, instance: str, host: str, start_ms: int, end_ms: int,
          status: int = 0, trace: str = TRACE, name: str = "op") -> Span:
    return Span(trace_id=trace, span_id=span_id, parent_span_id=parent, name=name,
                start_ns=T0 + start_ms * 1_000_000, end_ns=T0 + end_ms * 1_000_000, kind=2,
                status_code=status, service=service, instance=instance, host=host)


def _log(i: int, time_ms: int, body: str, service: str = "", span_id: str = "", trace: str = TRACE,
         level: tuple[str, int] = ("INFO", 9), host: str = "", attrs: dict | None = None) -> LogRecord:
    return LogRecord(time_ns=T0 + time_ms * 1_000_000, body=body, severity_text=level[0], severity_number=level[1],
                     trace_id=trace, span_id=span_id, service=service, host=host, attributes=attrs or {},
                     id=f"{i:032x}")


def _metric(name: str, instance: str, host: str, time_ms: int, value: float, service: str = "") -> MetricPoint:
    return MetricPoint(name=name, type="gauge", time_ns=T0 + time_ms * 1_000_000, value=value, service=service,
                       instance=instance, host=host, id=f"{name}-{instance}-{host}-{time_ms}")


def _insert(client, spans=(), logs=(), metrics=()) -> None:
    insert = client_insert(client)
    if spans:
        insert("spans", rows.span_columns(list(spans)), rows.SPAN_COLUMNS)
    if logs:
        insert("logs", rows.log_columns(list(logs)), rows.LOG_COLUMNS)
    if metrics:
        insert("metrics", rows.metric_columns(list(metrics)), rows.METRIC_COLUMNS)


TRACE_SPANS = [
    _span(ROOT, "", "frontend", "fe-1", "node-1", 0, 1000, status=1, name="GET /checkout"),
    _span(CART, ROOT, "cart", "cart-1", "node-2", 100, 600, status=2, name="cart.add"),
    _span(DB, CART, "cart", "cart-1", "node-2", 200, 400, name="db.query"),
]
TRACE_LOGS = [
    _log(1, 150, "cart failed: boom", service="cart", span_id=CART, level=("ERROR", 17)),
    _log(2, 300, "querying db", service="cart"),  # no span id: innermost cart span holds it
    _log(3, 300, "waiting for cart", service="frontend"),  # same time, but its service's span
    _log(4, 1500, "late cleanup", service="frontend"),  # within the 1 s pad after the root
    _log(5, 300_000, "much later", service="cart"),  # far outside every span
]
# A reading joins the spans of its own service on its host or instance (the engine's rule,
# pipeline.correlate.metric_index), so a pending span shows what its correlated row will.
TRACE_METRICS = [
    _metric("cpu", "cart-1", "node-2", -10_000, 0.1, "cart"),  # too early for any span
    _metric("cpu", "cart-1", "node-2", 300, 0.7, "cart"),
    _metric("cpu", "cart-1", "node-2", 500, 0.9, "cart"),  # the latest inside the cart spans
    _metric("cpu", "cart-1", "node-2", 5_000, 1.0, "cart"),  # too late
    _metric("load", "", "node-2", 1_000, 3.5, "cart"),  # host-level reading on the cart spans' host
    _metric("cpu", "other-1", "node-1", 100, 0.2, "other"),  # another service on the root's host
    _metric("mem", "fe-1", "node-1", 2_900, 512.0, "frontend"),  # within 2 s of the root's end
]


@pytest.fixture
def store(ch_client):
    migrate(ch_client, Settings())
    _insert(ch_client, TRACE_SPANS, TRACE_LOGS, TRACE_METRICS)
    _insert(ch_client, [_span("d" * 16, "", "auth", "auth-1", "node-3", 0, 10, trace=SHORT.rjust(32, "0"))])
    return ch_client


@pytest.fixture
def api(store):
    with TestClient(create_app(_settings(), store)) as c:
        yield c


def test_trace_has_spans_logs_and_metrics(api):
    r = api.get(f"/v1/traces/{TRACE}")
    assert r.status_code == 200
    body = r.json()
    assert body["trace_id"] == TRACE
    spans = {s["span_id"]: s for s in body["spans"]}
    assert set(spans) == {ROOT, CART, DB}
    root, cart, db = spans[ROOT], spans[CART], spans[DB]
    for s in body["spans"]:
        assert {"span_id", "parent_span_id", "service", "instance", "host", "name", "start_ns", "end_ns",
                "status", "clock_offset_ns", "logs", "metrics"} <= set(s)
        # Not correlated yet (only raw rows stored) and no host offset known: raw clocks.
        assert s["clock_offset_ns"] == 0 and s["correlated"] is False
    assert (root["status"], cart["status"], db["status"]) == ("ok", "error", "unset")
    assert cart["parent_span_id"] == ROOT and db["start_ns"] == T0 + 200_000_000
    assert [lg["body"] for lg in cart["logs"]] == ["cart failed: boom"]
    assert [lg["body"] for lg in db["logs"]] == ["querying db"]
    assert [lg["body"] for lg in root["logs"]] == ["waiting for cart", "late cleanup"]
    assert [lg["body"] for lg in body["unattached_logs"]] == ["much later"]
    # The latest sample inside each span, else the nearest within the window.
    assert cart["metrics"] == {"cpu": 0.9, "load": 3.5} and db["metrics"] == {"cpu": 0.7, "load": 3.5}
    assert root["metrics"] == {"mem": 512.0}


def test_short_trace_id_is_left_padded(api):
    r = api.get(f"/v1/traces/{SHORT.upper()}")
    assert r.status_code == 200
    assert r.json()["trace_id"] == SHORT.rjust(32, "0")
    assert [s["service"] for s in r.json()["spans"]] == ["auth"]


def test_unknown_trace_is_404_json(api):
    r = api.get("/v1/traces/" + "1" * 32)
    assert r.status_code == 404
    assert "1" * 32 in r.json()["error"]


@pytest.mark.parametrize("bad, words", [("xyz", "hexadecimal"), ("abc123", "6 hex digits"),
                                        ("a" * 33, "33 hex digits"), ("0" * 32, "all zeros"),
                                        ("4bf92f3577b34da6a3ce929d0e0e473g", "hexadecimal")])
def test_malformed_trace_ids_are_400_naming_the_problem(api, bad, words):
    r = api.get(f"/v1/traces/{bad}")
    assert r.status_code == 400
    assert words in r.json()["error"]


# --- log search -----------------------------------------------------------------------

SEARCH_LOGS = [
    _log(100 + i, i * 1000, body, service=svc, level=lvl, host=host, trace="", attrs=attrs)
    for i, (body, svc, lvl, host, attrs) in enumerate([
        ("ERROR: connection refused to db:5432", "cart", ("ERROR", 17), "node-2", {"status": "503"}),
        ("Timeout after 30s", "checkout", ("WARN", 13), "node-1", {"status": "504"}),
        ("java.lang.OutOfMemoryError: Java heap space", "cart", ("FATAL", 21), "node-2", {}),
        ("GET /api 200 ok", "frontend", ("INFO", 9), "node-1", {"status": "200"}),
        ("pod OOMKilled", "cart", ("ERROR", 17), "node-3", {}),
        ("retrying connection", "checkout", ("DEBUG", 5), "node-1", {"status": "500"}),
        ("café au lait served", "frontend", ("INFO", 9), "node-1", {}),
    ])
]


@pytest.fixture
def search_api(ch_client):
    migrate(ch_client, Settings())
    _insert(ch_client, logs=SEARCH_LOGS)
    with TestClient(create_app(_settings(), ch_client)) as c:
        yield c


def _stream_ids(query: str) -> set[str]:
    res = RuleMatcher([Rule("q", query)]).match_batch(SEARCH_LOGS)
    return {r.id for r, ids in zip(SEARCH_LOGS, res) if ids == ("q",)}


@pytest.mark.parametrize("query", [
    "connection", "level:error", "level >= warn", "service:cart AND NOT message:/OOM/",
    'message:"heap space" OR status > 500', "(service:cart OR service:frontend) AND host:node-1",
    "café", "status:*", "message:/^[A-Z]+:/",
])
def test_log_search_agrees_with_stream_matcher(search_api, query):
    r = search_api.post("/v1/logs/search", json={"query": query})
    assert r.status_code == 200, r.text
    body = r.json()
    assert {row["id"] for row in body["logs"]} == _stream_ids(query)
    assert body["count"] == len(body["logs"]) and body["truncated"] is False
    assert "{p0:" in body["sql"] and query not in body["sql"]
    for row in body["logs"]:
        assert set(row) == set(LOG_COLUMNS)
    times = [row["time_ns"] for row in body["logs"]]
    assert times == sorted(times, reverse=True)


def test_log_search_time_range_and_limit(search_api):
    r = search_api.post("/v1/logs/search", json={
        "query": "level >= debug", "from": T0 + 1000 * 1_000_000, "to": str(T0 + 4000 * 1_000_000), "limit": 2})
    body = r.json()
    assert r.status_code == 200
    assert [row["body"] for row in body["logs"]] == ["pod OOMKilled", "GET /api 200 ok"]
    assert body["count"] == 2 and body["truncated"] is True
    # The same window in RFC 3339 (T0 is a whole second).
    from datetime import datetime, timezone
    iso = lambda ns: datetime.fromtimestamp(ns // 1_000_000_000, timezone.utc).isoformat().replace("+00:00", "Z")
    r2 = search_api.post("/v1/logs/search", json={
        "query": "level >= debug", "from": iso(T0 + 1000 * 1_000_000), "to": iso(T0 + 4000 * 1_000_000), "limit": 2})
    assert r2.json()["logs"] == body["logs"]


@pytest.mark.parametrize("query", ["service:cart AND (", "", "message:/a(/", "level >= "])
def test_log_search_query_error_is_400_with_position(search_api, query):
    with pytest.raises(QueryError) as info:
        to_sql(query)
    r = search_api.post("/v1/logs/search", json={"query": query})
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == f"query: {info.value}"
    assert (body["position"], body["expected"]) == (info.value.position, info.value.expected)


@pytest.mark.parametrize("payload, words, status", [
    ({"query": "x", "from": "yesterday"}, "from: time 'yesterday'", 400),
    ({"query": "x", "to": "2026-02-30T00:00:00Z"}, "not a valid date", 400),
    ({"query": "x", "from": T0 + 10, "to": T0}, "'from' is after 'to'", 400),
    ({"query": "x", "from": 2**70}, "64-bit", 400),
    ({"query": "x", "limit": 10_001}, "limit", 422),
    ({"query": "x", "limit": 0}, "limit", 422),
    ({"limit": 5}, "query", 422),
    ({"query": "x", "bogus": 1}, "bogus", 422),
])
def test_log_search_bad_input_is_4xx_naming_it(search_api, payload, words, status):
    r = search_api.post("/v1/logs/search", json=payload)
    assert r.status_code == status
    assert words in r.json()["error"]


def test_log_search_malformed_json_is_422(search_api):
    r = search_api.post("/v1/logs/search", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "error" in r.json()


# --- limits, auth, health, metrics, schema -------------------------------------------------

def test_result_row_limit_gives_a_clear_413(store):
    with TestClient(create_app(_settings(api_max_result_rows=2), store)) as c:
        r = c.post("/v1/logs/search", json={"query": "level >= trace OR NOT level >= trace", "limit": 10})
        assert r.status_code == 413 and "api_max_result_rows" in r.json()["error"]
        r = c.get(f"/v1/traces/{TRACE}")  # three spans, more than two
        assert r.status_code == 413 and "more than 2 rows" in r.json()["error"]


def test_result_byte_limit_gives_a_clear_413(store):
    """Few rows can still be many bytes (large log bodies): the answer is bounded in bytes too."""
    _insert(store, logs=[_log(100 + i, 10 + i, "x" * 200_000, service="cart") for i in range(5)])
    with TestClient(create_app(_settings(api_max_result_bytes=100_000), store)) as c:
        r = c.post("/v1/logs/search", json={"query": "service:cart", "limit": 10})
        assert r.status_code == 413 and "api_max_result_bytes" in r.json()["error"]
        assert "100000 bytes" in r.json()["error"]
    with TestClient(create_app(_settings(), store)) as c:  # the default lets the same answer through
        assert c.post("/v1/logs/search", json={"query": "service:cart", "limit": 10}).status_code == 200


def test_request_body_limit_is_a_json_413_before_or_while_reading(api):
    big = b'{"query": "' + b"x" * 300_000 + b'"}'
    r = api.post("/v1/logs/search", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "api_max_body_bytes" in r.json()["error"]

    def chunked():  # no Content-Length: counted as it arrives
        yield b'{"query": "'
        for _ in range(100):
            yield b"x" * 10_000
        yield b'"}'

    r = api.post("/v1/logs/search", content=chunked(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "api_max_body_bytes" in r.json()["error"]
    # A body within the limit, chunked or not, is read whole and answered as usual.
    r = api.post("/v1/logs/search", content=iter([b'{"query": ', b'"boom"}']), headers={"content-type": "application/json"})
    assert r.status_code == 200 and [x["body"] for x in r.json()["logs"]] == ["cart failed: boom"]


def test_docs_load_no_asset_from_another_site(api):
    import re

    for page in ("/docs", "/redoc"):
        r = api.get(page)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        urls = re.findall(r'(?:src|href)="([^"]+)"', r.text)
        assert urls and all(u.startswith("/docs/assets/") for u in urls), urls
        assert "cdn" not in r.text and "https://" not in r.text
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "https:" not in csp and "frame-ancestors 'none'" in csp
        for url in urls:
            asset = api.get(url)
            assert asset.status_code == 200 and len(asset.content) > 1000
    js = api.get("/docs/assets/swagger-ui-bundle.js")
    assert js.headers["content-type"].startswith("text/javascript") and b"SwaggerUIBundle" in js.content
    assert api.get("/docs/assets/../../etc/passwd").status_code == 404
    assert api.get("/docs/assets/core.py").status_code == 404


def test_execution_time_limit_is_a_4xx_and_the_next_read_is_sound(ch_client):
    reader = Reader(ch_client, ReadLimits(max_execution_s=0.2))
    with pytest.raises(ReadLimitError) as info:
        reader.rows("SELECT sleepEachRow(0.05) FROM numbers(40) SETTINGS max_block_size = 1")
    assert info.value.status == 422 and "api_max_execution_s" in str(info.value)
    assert reader.rows("SELECT 7 AS n") == [{"n": 7}]


def test_reads_refuse_writes_and_limits_do_not_leak_into_the_session(ch_client):
    migrate(ch_client, Settings())
    _insert(ch_client, logs=SEARCH_LOGS)
    reader = Reader(ch_client, ReadLimits(max_result_rows=2))
    with pytest.raises(ReadLimitError):
        reader.rows("SELECT id FROM logs")
    # The same client, used by a writer after a limited read, is neither read-only nor limited.
    _insert(ch_client, logs=[_log(999, 0, "written after")])
    assert len(ch_client.query("SELECT id FROM logs").result_rows) == len(SEARCH_LOGS) + 1
    with pytest.raises(DatabaseError, match="readonly"):
        Reader(ch_client, ReadLimits()).rows("CREATE TABLE nope (x UInt8) ENGINE = Memory")


def test_bearer_token(store, monkeypatch):
    monkeypatch.setenv("TELECORR_API_TOKEN", "s3cret")
    with TestClient(create_app(_settings(), store)) as c:
        for path in (f"/v1/traces/{TRACE}", "/openapi.json", "/metrics"):
            assert c.get(path).status_code == 401
            assert c.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert c.get(path, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        r = c.post("/v1/logs/search", json={"query": "x"})
        assert r.status_code == 401 and "bearer" in r.json()["error"]
        assert c.get("/healthz").status_code == 200  # probes need no token


def test_no_token_configured_means_open(api, monkeypatch):
    monkeypatch.delenv("TELECORR_API_TOKEN", raising=False)
    assert api.get(f"/v1/traces/{TRACE}").status_code == 200


def test_healthz_ok_and_unavailable_without_internals(api, store, caplog):
    assert api.get("/healthz").json() == {"status": "ok"}

    class Down:
        def ping(self):
            raise ConnectionError("connection refused by http://default:hunter2@ch.internal:8123 (Code: 210)")

    with TestClient(create_app(_settings(), Down())) as c:
        r = c.get("/healthz")
    assert r.status_code == 503 and r.json() == {"status": "unavailable", "error": "ClickHouse does not answer"}
    # The reason goes to the server's log, with the password masked.
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "connection refused" in logged and "hunter2" not in logged and "default:***@" in logged


def test_healthz_does_not_wait_for_a_long_read(store):
    """A probe answers while a read holds the API's read lock (here: for 3 s)."""
    import threading
    import time

    app = create_app(_settings(), store)
    with TestClient(app) as c:
        reader = app.state.reader
        slow = threading.Thread(target=reader.rows, args=("SELECT sleepEachRow(0.1) FROM numbers(30) "
                                                          "SETTINGS max_block_size = 1",))
        slow.start()
        time.sleep(0.3)
        assert reader._lock.locked()
        t0 = time.monotonic()
        r = c.get("/healthz")
        took = time.monotonic() - t0
        slow.join()
    assert r.status_code == 200 and took < 1.5, took


def test_metrics_count_requests_per_endpoint_and_status(api):
    api.get(f"/v1/traces/{TRACE}")
    api.get(f"/v1/traces/{TRACE}")
    api.get("/v1/traces/" + "2" * 32)
    api.post("/v1/logs/search", json={"query": "("})
    text = api.get("/metrics").text
    counts, latency_counts = {}, {}
    for fam in text_string_to_metric_families(text):
        for sample in fam.samples:
            key = (sample.labels.get("endpoint"), sample.labels.get("status"))
            if sample.name == "telecorr_api_requests_total":
                counts[key] = sample.value
            if sample.name == "telecorr_api_request_seconds_count":
                latency_counts[key] = sample.value
    assert counts[("/v1/traces/{trace_id}", "200")] == 2
    assert counts[("/v1/traces/{trace_id}", "404")] == 1
    assert counts[("/v1/logs/search", "400")] == 1
    assert latency_counts == counts


def test_unknown_paths_and_methods_are_json_errors(api):
    r = api.get("/v1/nope")
    assert r.status_code == 404 and r.json() == {"error": "Not Found"}
    r = api.delete(f"/v1/traces/{TRACE}")
    assert r.status_code == 405 and r.json() == {"error": "Method Not Allowed"}


class _Failing:
    """A client whose every query fails with the given ClickHouse error."""

    def __init__(self, message: str) -> None:
        self.message = message

    def query(self, *a, **k):
        raise DatabaseError(self.message)

    def ping(self):
        return False


def test_store_failure_is_503_and_rejected_arguments_400():
    with TestClient(create_app(_settings(), _Failing("Code: 210. DB::Exception: Connection refused"))) as c:
        r = c.get(f"/v1/traces/{TRACE}")
        assert r.status_code == 503 and "Connection refused" in r.json()["error"]
        assert c.get("/healthz").status_code == 503
    with TestClient(create_app(_settings(), _Failing("Code: 427. DB::Exception: cannot compile regexp"))) as c:
        r = c.post("/v1/logs/search", json={"query": "message:/x+/"})
        assert r.status_code == 400 and "rejected the query" in r.json()["error"]


def test_apps_have_separate_metric_registries(store):
    with TestClient(create_app(_settings(), store)) as a, TestClient(create_app(_settings(), store)) as b:
        a.get("/healthz")
        assert 'endpoint="/healthz"' in a.get("/metrics").text
        assert 'endpoint="/healthz"' not in b.get("/metrics").text


def test_openapi_lists_the_contract(api):
    doc = api.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {"/v1/traces/{trace_id}", "/v1/logs/search", "/healthz", "/metrics",
                                 "/v1/metrics/series", "/v1/root-cause"}
    body = doc["paths"]["/v1/logs/search"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    props = doc["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]["properties"]
    assert set(props) == {"query", "from", "to", "limit"}
    assert "400" in doc["paths"]["/v1/traces/{trace_id}"]["get"]["responses"]
