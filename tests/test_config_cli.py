"""Settings precedence, the common flags' placement, and replay's file handling."""

from __future__ import annotations

import gzip

import pytest

from pipeline.cli import build_parser
from pipeline.commands.replay import ReplayError, guess_format, replay_messages
from pipeline.config import Settings, SettingsError, load_settings, read_topics
from pipeline.ingest.framing import FramingError


def test_precedence_defaults_file_env_flags(tmp_path):
    cfg = tmp_path / "t.toml"
    cfg.write_text('broker = "file:1"\ntopic_prefix = "f."\nsink_batch_rows = 7\n')
    env = {"TELECORR_CONFIG": str(cfg), "TELECORR_TOPIC_PREFIX": "e.", "TELECORR_SINK_FLUSH_S": "0.25"}
    args = build_parser().parse_args(["--broker", "flag:2", "config"])
    s = load_settings(args, env)
    assert (s.broker, s.topic_prefix, s.sink_batch_rows, s.sink_flush_s) == ("flag:2", "e.", 7, 0.25)
    assert s.topic("otlp_spans") == "e.otlp_spans"


@pytest.mark.parametrize("argv", [["--topic-prefix", "p.", "sql", "SELECT 1"], ["sql", "SELECT 1", "--topic-prefix", "p."]])
def test_common_flags_before_or_after_the_command(argv):
    args = build_parser().parse_args(argv)
    assert load_settings(args, {}).topic_prefix == "p."


def test_bad_settings_name_the_problem(tmp_path):
    with pytest.raises(SettingsError, match="sink_batch_rows"):
        load_settings(None, {"TELECORR_SINK_BATCH_ROWS": "many"})
    cfg = tmp_path / "bad.toml"
    cfg.write_text("no_such_thing = 1\n")
    with pytest.raises(SettingsError, match="no_such_thing"):
        load_settings(None, {"TELECORR_CONFIG": str(cfg)})


def test_topic_list_is_declarative():
    topics = dict(read_topics())
    assert topics["otlp_spans"] >= 2 and topics["telemetry.dlq"] >= 1
    assert set(topics) >= {"otlp_spans", "otlp_logs", "otlp_metrics", "telemetry.events", "telemetry.raw_logs",
                           "telemetry.by_trace", "telemetry.metrics", "telemetry.dlq"}
    assert Settings().topic("x") == "x"


def test_replay_reads_each_format(tmp_path):
    otlp = tmp_path / "traces.jsonl.gz"
    otlp.write_bytes(gzip.compress(b'{"resourceSpans": []}\n{"resourceLogs": []}\n'))
    text = tmp_path / "app.log"
    text.write_bytes(b"".join(b"line %d\n" % i for i in range(1200)))
    proto = tmp_path / "metrics.binpb"
    proto.write_bytes(b"\x03abc\x00\x02de")
    counts: dict[str, int] = {}
    msgs = list(replay_messages([str(otlp), str(text), str(proto)], None, None, counts))
    topics = [m[0] for m in msgs]
    assert topics[:2] == ["otlp_spans", "otlp_logs"]
    assert topics.count("telemetry.raw_logs") == 3  # 1200 lines packed 500 per message
    assert [m[2] for m in msgs if m[0] == "otlp_metrics"] == [b"abc", b"", b"de"]
    assert counts == {"traces requests": 1, "logs requests": 1, "text lines": 1200, "metrics requests": 3}
    assert guess_format("x.jsonl", b'{"signal": "span"}') == "jsonl"


def test_replay_rejects_bad_files_clearly(tmp_path):
    bad = tmp_path / "traces.binpb"
    bad.write_bytes(b"\x05ab")
    with pytest.raises(FramingError, match="claims 5 bytes"):
        list(replay_messages([str(bad)], None, None, {}))
    unknown = tmp_path / "x.bin"
    unknown.write_bytes(b"\x01a")
    with pytest.raises(ReplayError, match="--signal"):
        list(replay_messages([str(unknown)], "otlp-proto", None, {}))
