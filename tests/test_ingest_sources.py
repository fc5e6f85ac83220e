"""A batch from several source partitions: one merged result, and each source's progress."""

from __future__ import annotations

from pipeline.config import Settings
from pipeline.ingest.stage import Ingestor
from tests import otlp_samples as samples


def test_sources_decode_apart_and_errors_keep_their_batch_index():
    ing = Ingestor(Settings())
    a_pb, _, a_rows = samples.logs(1, 3)
    b_pb, _, b_rows = samples.logs(7, 2)
    # Batch order: [a, junk, b, a-again]; partition 0 holds indexes 0 and 3, partition 1 holds 1 and 2.
    merged, each = ing.process_sources("otlp_logs", [([0, 3], [a_pb, a_pb], [1, 1]), ([1, 2], [b"\x0f\x0f", b_pb], [1, 1])])
    assert [len(r.logs) for r in each] == [6, 2]
    assert len(merged.logs) == 8 and [e.index for e in merged.errors] == [1]
    assert "protobuf" in merged.errors[0].reason.lower(), merged.errors[0].reason
    # Logs were parsed and tagged once, in place: the per-source results see it too.
    assert all(r.rules is not None and r.format for r in each[1].logs)
    assert {r.time_ns for r in each[1].logs} == {row["time_ns"] for row in b_rows}
    assert max(r.time_ns for r in each[0].logs) == max(row["time_ns"] for row in a_rows)
