"""Log templates: masking, ids stable across orders and workers, the per-minute aggregate
exact under replay (real broker, real chDB)."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from pipeline.config import Settings
from pipeline.ingest.stage import Ingestor
from pipeline.kafka.io import publish
from pipeline.ingest.logs import parse_logs
from pipeline.ingest.logs.templates import TemplateMiner, template_id, template_of
from pipeline.model import LogRecord
from tests.workerproc import run_worker, sql, worker_env

JAVA_IN_CONTAINER = (
    '{"log":"2024-03-01 10:02:03.123  INFO 1 --- [http-nio-8080-exec-7] c.t.order.OrderService : '
    'order saved for 5f3a9c2e-1b2c-4d5e-8f90-123456789abc in 12ms\\n","stream":"stdout",'
    '"time":"2024-03-01T02:02:03.124511Z","trace_id":"0123456789abcdef0123456789abcdef"}')


@pytest.mark.parametrize("line, want", [
    ("GET /cart completed in 12.3ms items=17", "GET /cart completed in <*> items=<*>"),
    ("call to payment failed: dial tcp 10.0.3.11:8080: connect: connection refused",
     "call to payment failed: dial tcp <*>: connect: connection refused"),
    ("KeyError: 'item-123'", "KeyError: <*>"),
    ('user "bob" not found at /api/v1/users/42', "user <*> not found at /api/<*>/users/<*>"),
    ("released lock 0x7f3a on node-3", "released lock <*> on <*>"),
    # the app line's own header (time stamp, level, pid, thread, logger) is not the message
    ("2024-03-01 10:02:03,123 ERROR [cart-2] GetCart failed: java.lang.IllegalStateException: stale",
     "GetCart failed: java.lang.IllegalStateException: stale"),
    ("10:02:03.123 [main] WARN  com.x.Repo - slow query took 1234 ms", "slow query took <*> ms"),
    # trace context in the text says which request, not what happened
    ("TraceID: 4bf92f3577b34da6a3ce929d0e0e4736 SpanID: 00f067aa0ba902b7 Request complete", "Request complete"),
    ("order 7 saved [trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7]", "order <*> saved"),
    ("GET / done traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "GET / done"),
    # a stack trace: the first line names the template
    ("order 7 failed: boom\n\tat com.x.A.b(A.java:12)\n\tat com.x.C.d(C.java:34)", "order <*> failed: boom"),
])
def test_variables_and_headers_are_masked(line, want):
    tid, text = template_of(line)
    assert text == want
    assert tid == template_id(want) and len(tid) == 16


def test_container_wrapped_java_line_gets_its_message_template_and_fields():
    rec = LogRecord(time_ns=0, body=JAVA_IN_CONTAINER, service="order")
    parse_logs([rec], "auto", "Asia/Shanghai")
    TemplateMiner().assign([rec])
    assert rec.template == "order saved for <*> in <*>"
    assert rec.severity_text == "INFO"
    assert rec.trace_id == "0123456789abcdef0123456789abcdef"  # from the record's own field
    # zone-less local stamp read in the configured zone (UTC+8): 10:02:03 local is 02:02:03Z
    assert rec.time_ns == 1709258523_123000000
    # read in the wrong zone (the default, UTC) it would be 8 h off: the runtime's UTC stamp wins
    rec = LogRecord(time_ns=0, body=JAVA_IN_CONTAINER, service="order")
    parse_logs([rec], "auto", "UTC")
    assert rec.time_ns == 1709258523_124511000


def _lines(seed: int, n: int) -> list[LogRecord]:
    rnd = random.Random(seed)
    shapes = ["order {a} saved for user {b} in {c}ms", "GET /cart/{a} completed in {c}.{a}ms items={b}",
              "cache lookup key={h} hit={t}", "retrying call to {s} ({a}/3): timeout after {c}ms",
              "caught exception in {s}: java.lang.IllegalStateException: stale item {a}",
              '2024-03-01 10:02:{a:02d}.{c:03d}  WARN 1 --- [exec-{a}] c.x.Svc : pool {s} at {b}%']
    out = []
    for i in range(n):
        body = rnd.choice(shapes).format(a=rnd.randint(0, 59), b=rnd.randint(0, 10**6), c=rnd.randint(1, 999),
                                         h=f"{rnd.getrandbits(24):06x}", t=rnd.choice(["true", "false"]),
                                         s=rnd.choice(["cart", "payment", "redis"]))
        out.append(LogRecord(time_ns=i, body=body, service=rnd.choice(["cart", "payment"]), id=str(i)))
    return out


def test_ids_do_not_depend_on_arrival_order_worker_or_cache():
    lines = _lines(3, 3000)
    want = {r.id: template_of(r.body) for r in lines}
    for seed in range(3):  # three "workers", each seeing the lines in its own order and batches
        mine = [LogRecord(time_ns=r.time_ns, body=r.body, service=r.service, id=r.id) for r in lines]
        random.Random(seed).shuffle(mine)
        miner = TemplateMiner(max_keys_per_service=50 if seed == 2 else 20_000)  # one with a tiny cache
        for i in range(0, len(mine), 257):
            miner.assign(mine[i:i + 257])
        assert {r.id: (r.template_id, r.template) for r in mine} == want
    # six shapes, three of them naming one of three services, one with hit=true|false
    assert len(set(want.values())) == 1 + 1 + 2 + 3 + 3 + 3


def test_word_by_word_masking_equals_masking_the_whole_line():
    from pipeline.ingest.logs.templates import _VARIABLE, WILDCARD, _mask_variables, cache_key

    for r in _lines(9, 2000):
        key = cache_key(r.body).decode()
        assert _mask_variables(key) == _VARIABLE.sub(WILDCARD, key)


def test_known_templates_take_the_fast_path():
    miner = TemplateMiner()
    lines = _lines(5, 5000)
    miner.assign(lines)
    # Digit variations share one cache entry; only lines whose hex key has letters miss.
    assert miner.misses < 0.3 * len(lines)
    assert {t for _, t in miner.templates("cart")} <= {r.template for r in lines}


def test_ingestor_gives_every_stored_log_a_template():
    ing = Ingestor(Settings())
    req = _request("cart", "cart-7f9c", [f"order {i} saved" for i in range(5)])
    res = ing.process("otlp_logs", [req], [0])
    assert [r.template for r in res.logs] == ["order <*> saved"] * 5
    assert len({r.template_id for r in res.logs}) == 1


def _request(service: str, pod: str, bodies: list[str], t0: int = 1_760_000_000 * 10**9) -> bytes:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.extend([KeyValue(key="service.name", value=AnyValue(string_value=service)),
                                   KeyValue(key="k8s.pod.name", value=AnyValue(string_value=pod))])
    sl = rl.scope_logs.add()
    for i, body in enumerate(bodies):
        lr = sl.log_records.add(time_unix_nano=t0 + i * 500_000_000, severity_number=9)
        lr.body.string_value = body
    return req.SerializeToString()


@pytest.mark.integration
def test_template_minutes_are_exact_after_a_replay(broker, topic_prefix, tmp_path):
    """Every log consumed twice (a second consumer group replays the topic into the same
    store): the per-minute template counts still count each line once."""
    settings = Settings(broker=broker, topic_prefix=topic_prefix)
    msgs = []
    for k in range(6):  # 6 messages x 80 lines, 0.5 s apart: 4 minutes of two pods
        pod = f"cart-{k % 2}"
        bodies = [f"order {k * 100 + i} saved" if i % 4 else f"cache miss for key {i}" for i in range(80)]
        msgs.append(("otlp_logs", None, _request("cart", pod, bodies, 1_760_000_000 * 10**9 + k * 40 * 10**9)))
    publish(settings, msgs)
    chdir = tmp_path / "ch"
    for _ in range(2):
        rc, err = run_worker(worker_env(broker, topic_prefix, chdir))
        assert rc == 0, err[-3000:]
    raw = sql(chdir, "SELECT count() AS n, uniqExact(id) AS ids FROM logs")[0]
    assert raw["n"] >= 2 * 480 and raw["ids"] == 480  # really written twice
    query = ("SELECT instance, template, toInt64(sum(n)) AS n FROM (SELECT instance, minute_ns, template_id, "
             "any(template) AS template, uniqExactMerge(lines) AS n FROM log_template_minutes "
             "GROUP BY instance, minute_ns, template_id) GROUP BY instance, template ORDER BY instance, template")
    want = sql(chdir, "SELECT instance, template, toInt64(count()) AS n FROM logs FINAL "
                      "GROUP BY instance, template ORDER BY instance, template")
    assert sql(chdir, query) == want
    assert {(r["instance"], r["template"]): r["n"] for r in want} == {
        ("cart-0", "cache miss for key <*>"): 60, ("cart-0", "order <*> saved"): 180,
        ("cart-1", "cache miss for key <*>"): 60, ("cart-1", "order <*> saved"): 180}
    merge = (f"import clickhouse_connect; clickhouse_connect.get_client(dsn='chdb://{chdir}')"
             ".command('OPTIMIZE TABLE log_template_minutes FINAL')")
    subprocess.run([sys.executable, "-c", merge], check=True, timeout=120)  # chDB: one store per process
    assert sql(chdir, query) == want
