"""The report pages and the metric-series endpoint, through the real app over chDB data from a
simulated fault run: what each page shows must be what the JSON endpoints and the ranking say."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from pipeline.api.app import create_app
from pipeline.api.report.render import utc
from pipeline.config import Settings
from pipeline.model import LogRecord, Span
from pipeline.rca import rank_window
from pipeline.store import columnar as rows
from pipeline.store.writer import client_insert
from tests import report_support


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags(text: str, tag: str, cls: str | None = None) -> list[dict]:
    p = _Tags()
    p.feed(text)
    return [a for t, a in p.tags if t == tag and (cls is None or cls in (a.get("class") or "").split())]


@pytest.fixture(scope="module")
def store(chdb_root):
    data, admin, db = report_support.build(chdb_root)
    yield data
    admin.command(f"DROP DATABASE IF EXISTS {db} SYNC")


@pytest.fixture(scope="module")
def api(store):
    with TestClient(create_app(Settings(), store.client)) as c:
        yield c


def test_trace_page_draws_every_span_with_its_errors_logs_and_offsets(api, store):
    trace = api.get(f"/v1/traces/{store.failing_trace}").json()
    r = api.get(f"/report/trace/{store.failing_trace}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    rows_ = tags(r.text, "details", "span-row")
    assert sorted(d["data-span-id"] for d in rows_) == sorted(s["span_id"] for s in trace["spans"])
    # Tree order: every span comes after its parent.
    order = [d["data-span-id"] for d in rows_]
    for s in trace["spans"]:
        if s["parent_span_id"] in order:
            assert order.index(s["parent_span_id"]) < order.index(s["span_id"])
    erring = {s["span_id"] for s in trace["spans"] if s.get("is_error", s["status"] == "error")}
    assert erring and {d["data-span-id"] for d in tags(r.text, "details", "span-err")} == erring
    # The deepest failure the correlation engine found is marked and opened.
    own = store.client.query("SELECT span_id FROM correlated_spans FINAL WHERE trace_id = {t:String} AND own_error",
                             parameters={"t": store.failing_trace}).result_rows
    own_rows = tags(r.text, "details", "span-own")
    assert {d["data-span-id"] for d in own_rows} == {sid for (sid,) in own}
    assert any("open" in d for d in own_rows)
    for s in trace["spans"]:
        assert utc(s["start_ns"]) in r.text
        assert f"({s['clock_offset_ns']} ns)" in r.text
        for lg in s["logs"]:
            assert escape(lg["body"]) in r.text
        for name in s["metrics"]:
            assert escape(name) in r.text


def test_trace_page_escapes_untrusted_text(api, store):
    tid, t0 = "f" * 31 + "1", store.fault["start_ns"]
    insert = client_insert(store.client)
    span = Span(trace_id=tid, span_id="1" * 16, parent_span_id="", name="<b>op</b>", start_ns=t0,
                end_ns=t0 + 5_000_000, kind=2, status_code=2, service="svc", instance="svc-1", host="h")
    log = LogRecord(time_ns=t0 + 1_000_000, body='<script>alert("x")</script>', severity_text="ERROR",
                    severity_number=17, trace_id=tid, span_id="1" * 16, service="svc", id="e" * 32)
    insert("spans", rows.span_columns([span]), rows.SPAN_COLUMNS)
    insert("logs", rows.log_columns([log]), rows.LOG_COLUMNS)
    text = api.get(f"/report/trace/{tid}").text
    assert "<script>alert" not in text and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in text
    assert "&lt;b&gt;op&lt;/b&gt;" in text


def test_window_page_shows_the_ranking_graph_and_suspect_metrics(api, store):
    lo, hi = store.fault["start_ns"], store.fault["end_ns"]
    ranking = rank_window(store.client, lo, hi)
    r = api.get("/report/window", params={"from": store.fault["start"], "to": str(hi)})
    assert r.status_code == 200
    cands = tags(r.text, "li", "cand")
    assert [c["data-service"] for c in cands] == [c["service"] for c in ranking["candidates"]]
    assert [int(c["data-rank"]) for c in cands] == [c["rank"] for c in ranking["candidates"]]
    for c in ranking["candidates"]:
        for e in c["evidence"]:
            assert escape(e["summary"]) in r.text
    suspects = [g["data-service"] for g in tags(r.text, "g", "suspect")]
    assert suspects == sorted(n["service"] for n in ranking["graph"]["nodes"] if n["suspect"])
    assert len(tags(r.text, "g", "node")) >= len(ranking["graph"]["nodes"])
    top = ranking["candidates"][0]
    stored = {n for (n,) in store.client.query(
        "SELECT DISTINCT name FROM metrics WHERE service = {s:String} AND (instance = {i:String} OR {i:String} = '') "
        "AND time_ns BETWEEN {lo:Int64} AND {hi:Int64}",
        parameters={"s": top["service"], "i": top.get("instance") or "", "lo": ranking["baseline"]["from_ns"],
                    "hi": hi}).result_rows}
    charts = [c["data-metric"] for c in tags(r.text, "div", "chart")]
    assert stored and len(charts) == min(8, len(stored)) and set(charts) <= stored
    assert len(tags(r.text, "polyline")) + len(tags(r.text, "circle")) >= len(charts)


@pytest.mark.parametrize("params, status, words", [
    ({"from": "yesterday", "to": "0"}, 400, "RFC 3339"),
    ({"from": "2026-01-01T00:00:10Z", "to": "2026-01-01T00:00:00Z"}, 400, "after"),
    ({"to": "0"}, 422, "from"),
    ({"from": "0", "to": "1", "limit": "0"}, 422, "limit"),
])
def test_window_page_bad_input_is_4xx(api, params, status, words):
    r = api.get("/report/window", params=params)
    assert r.status_code == status
    assert words in r.text


def test_trace_lookups(api, store):
    assert api.get("/report/trace/" + "1" * 32).status_code == 404
    bad = api.get("/report/trace/xyz")
    assert bad.status_code == 400 and "hexadecimal" in bad.text
    r = api.get("/report/trace", params={"trace_id": store.failing_trace.upper()}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/report/trace/{store.failing_trace}"
    assert api.get("/report/trace", params={"trace_id": "nope"}).status_code == 400


def test_index_offers_latest_windows_and_failing_traces(api, store):
    r = api.get("/report/")
    assert r.status_code == 200
    latest = store.client.query("SELECT max(end_ns) FROM trace_index").result_rows[0][0]
    assert f"to={latest}" in r.text and utc(latest) in r.text
    failing = {a["href"].split("/")[-1].split("#")[0] for a in tags(r.text, "a") if "/report/trace/" in a["href"]}
    stored = {t for (t,) in store.client.query(
        "SELECT DISTINCT trace_id FROM correlated_spans FINAL WHERE own_error").result_rows}
    assert failing and failing <= stored
    assert api.get("/openapi.json").json()["paths"].keys().isdisjoint({"/report/", "/report/window"})


def test_series_endpoint_returns_the_stored_readings(api, store):
    svc, name = store.fault["service"], "process.cpu.utilization"
    lo, hi = store.fault["start_ns"] - 30 * 10**9, store.fault["end_ns"]
    raw: dict[str, list[list]] = {}
    for inst, t, v in store.client.query(
            "SELECT instance, time_ns, value FROM metrics FINAL WHERE service = {s:String} AND name = {n:String} "
            "AND time_ns BETWEEN {lo:Int64} AND {hi:Int64} ORDER BY instance, time_ns",
            parameters={"s": svc, "n": name, "lo": lo, "hi": hi}).result_rows:
        raw.setdefault(inst, []).append([t, v])
    r = api.get("/v1/metrics/series", params={"service": svc, "name": name, "from": str(lo), "to": utc(hi),
                                              "max_points": 5000})
    assert r.status_code == 200
    body = r.json()
    assert (body["from_ns"], body["name"], body["instance"]) == (lo, name, None)
    assert raw and {s["instance"]: s["points"] for s in body["series"]} == raw
    one = next(iter(raw))
    r = api.get("/v1/metrics/series", params={"service": svc, "name": name, "from": str(lo), "to": str(hi),
                                              "instance": one, "max_points": 2})
    (series,) = r.json()["series"]
    values = [v for _, v in raw[one]]
    assert series["instance"] == one and 1 <= len(series["points"]) <= 3 < len(values)
    assert all(min(values) <= v <= max(values) for _, v in series["points"])


@pytest.mark.parametrize("params, status", [
    ({"service": "payment", "from": "0", "to": "1"}, 422),
    ({"service": "payment", "name": "x", "from": "soon", "to": "1"}, 400),
    ({"service": "payment", "name": "x", "from": "5", "to": "1"}, 400),
    ({"service": "payment", "name": "x", "from": "0", "to": "1", "max_points": "1"}, 422),
    ({"service": "", "name": "x", "from": "0", "to": "1"}, 422),
])
def test_series_bad_input_is_4xx_json(api, params, status):
    r = api.get("/v1/metrics/series", params=params)
    assert r.status_code == status and r.json()["error"]


def test_series_of_an_unknown_service_is_empty(api):
    r = api.get("/v1/metrics/series", params={"service": "nobody", "name": "cpu", "from": "0", "to": str(2**62)})
    assert r.status_code == 200 and r.json()["series"] == []


def test_browser_sign_in_sets_an_httponly_cookie_and_never_takes_a_url_token(store, monkeypatch):
    monkeypatch.setenv("TELECORR_API_TOKEN", "s3cret")
    page = f"/report/trace/{store.failing_trace}"
    with TestClient(create_app(Settings(), store.client), follow_redirects=False) as c:
        # Without credentials a page sends the browser to the sign-in form, and back after it.
        r = c.get(page)
        assert r.status_code == 303 and r.headers["location"] == "/report/login?next=" + page.replace("/", "%2F")
        form = c.get(r.headers["location"])
        assert form.status_code == 200 and tags(form.text, "input", None)[0]["type"] == "password"
        assert {"name": "next", "type": "hidden", "value": page} in tags(form.text, "input")
        # The URL never carries the token: refused even when right, and no cookie is set.
        for given in ("s3cret", "nope"):
            r = c.get("/report/", params={"token": given})
            assert r.status_code == 400 and "set-cookie" not in r.headers and "never accepted in the URL" in r.text
        wrong = c.post("/report/login", data={"token": "nope", "next": page})
        assert wrong.status_code == 401 and "set-cookie" not in wrong.headers and "not accepted" in wrong.text
        # Another site as the destination falls back to the report index (no open redirect).
        assert c.post("/report/login", data={"token": "s3cret", "next": "//evil.example/"}).headers["location"] \
            == "/report/"
        ok = c.post("/report/login", data={"token": "s3cret", "next": page})
        assert ok.status_code == 303 and ok.headers["location"] == page
        cookie = ok.headers["set-cookie"]
        assert "telecorr_token=s3cret" in cookie and "HttpOnly" in cookie and "Path=/report" in cookie
        assert "samesite=lax" in cookie.lower() and "Max-Age=43200" in cookie
        # The client now holds the cookie: pages open ...
        assert c.get(page).status_code == 200
        # ... but it is no key to the JSON API, which still wants the header.
        assert c.get(f"/v1/traces/{store.failing_trace}").status_code == 401
        assert c.get(f"/v1/traces/{store.failing_trace}", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_report_pages_send_security_headers_that_allow_only_their_own_code(api, store):
    import base64
    import hashlib
    import re

    for path in ("/report/", f"/report/trace/{store.failing_trace}", "/report/login", "/report/trace/zz"):
        r = api.get(path)
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        csp = dict(part.strip().split(" ", 1) for part in r.headers["content-security-policy"].split(";"))
        assert csp["default-src"] == "'none'" and csp["frame-ancestors"] == "'none'" and csp["base-uri"] == "'none'"
        # Every inline script and stylesheet of the page is allowed by its hash, and nothing else.
        for tag, directive in (("script", "script-src"), ("style", "style-src")):
            blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", r.text, re.S)
            want = {"'sha256-" + base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() + "'" for b in blocks}
            assert blocks and set(csp[directive].split()) == want, (path, directive)
        assert "http://" not in csp and "https://" not in csp and "unsafe-inline" not in csp["script-src"]
