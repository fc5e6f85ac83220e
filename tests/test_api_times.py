"""The time and trace-id readers the API (and later the root-cause endpoint) share."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.api.ids import TraceIdError, normalise_trace_id
from pipeline.api.time_params import TimeFormatError, parse_time_ns

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("text, ns", [
    ("1970-01-01T00:00:00Z", 0),
    ("2026-11-22T10:02:00Z", 1795341720 * 10**9),
    ("2026-11-22T10:02:00.5Z", 1795341720 * 10**9 + 500_000_000),
    ("2026-11-22T10:02:00.123456789Z", 1795341720 * 10**9 + 123_456_789),
    ("2026-11-22t12:02:00+02:00", 1795341720 * 10**9),
    ("2026-11-22 05:02:00-05:00", 1795341720 * 10**9),
    ("1969-12-31T23:59:59.9Z", -100_000_000),
    ("1795341720000000000", 1795341720 * 10**9),
    (1795341720000000000, 1795341720 * 10**9),
    (" 42 ", 42),
])
def test_accepted_times(text, ns):
    assert parse_time_ns(text) == ns


@pytest.mark.parametrize("bad, words", [
    ("2026-11-22T10:02:00", "neither RFC 3339"),  # no offset: ambiguous
    ("2026-13-01T00:00:00Z", "not a valid date"),
    ("2026-11-22T10:02:00.1234567891Z", "neither"),
    ("2026-11-22T10:02:00+24:00", "invalid UTC offset"),
    ("yesterday", "neither"), ("", "neither"), (True, "expected"), (1.5, "expected"),
    (2**63, "64-bit"), ("99999999999999999999", "neither"),
])
def test_rejected_times_name_the_problem(bad, words):
    with pytest.raises(TimeFormatError, match=words):
        parse_time_ns(bad)


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                    timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=5, minutes=30)),
                                               timezone(timedelta(hours=-8))])))
def test_rfc3339_agrees_with_datetime(dt):
    expected = (dt - EPOCH) // timedelta(microseconds=1) * 1000
    assert parse_time_ns(dt.isoformat(timespec="microseconds")) == expected
    assert parse_time_ns(str(expected)) == expected


def test_trace_ids():
    assert normalise_trace_id("4BF92F3577B34DA6A3CE929D0E0E4736") == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert normalise_trace_id("00f067aa0ba902b7") == "0000000000000000" + "00f067aa0ba902b7"
    for bad in ("", "g" * 32, "a" * 31, "a" * 17, "0" * 16, " " + "a" * 31):
        with pytest.raises(TraceIdError):
            normalise_trace_id(bad)
