"""`MetricIndex.readings` (one sample search per grid of series, readings remembered between
additions of points) against a plain per-series statement of the rule, on random series that
share or do not share sample times and labels, with host offsets, across later additions."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.correlate import CorrelateConfig
from pipeline.correlate.metric_index import MetricIndex
from pipeline.model import MetricPoint

S = 1_000_000_000
HOSTS = ("h1", "h2")


def plain_readings(index: MetricIndex, points: list[MetricPoint], service: str, host: str,
                   start: int, end: int, offsets: dict[str, int]) -> tuple[dict, dict]:
    """The rule, series by series, in the order `series_for` lists them (a later series of the
    same label wins)."""
    w = index._cfg.metric_window_ns
    vals, zs = {}, {}
    for s in index.series_for(service, "", host):
        off = offsets.get(s.host, 0)
        a, b = start + off, end + off
        times = s.times
        inside = [k for k, t in enumerate(times) if a <= t <= b]
        if inside:
            i = inside[-1]
        else:
            before = [k for k, t in enumerate(times) if a - w <= t < a]
            after = [k for k, t in enumerate(times) if b < t <= b + w]
            if after and (not before or times[after[0]] - b <= a - times[before[-1]]):
                i = after[0]
            elif before:
                i = before[-1]
            else:
                covering = [k for k, t in enumerate(times) if t <= b]
                step = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else float("inf")
                if not covering or step <= w or b - times[covering[-1]] > 1.5 * step:
                    continue
                i = covering[-1]
        vals[s.label] = s.values[i]
        zs[s.label] = index._z(s, i)
    return vals, zs


@st.composite
def series_points(draw) -> list[MetricPoint]:
    """Points of up to 5 series of one service: some scraped together (same times), some on
    their own times, some with a label another host's series also has."""
    grids = [sorted(set(draw(st.lists(st.integers(0, 60), min_size=1, max_size=12)))) for _ in range(2)]
    step = draw(st.sampled_from((S // 2, 5 * S)))  # finer and coarser than the 2 s window
    points = []
    for k in range(draw(st.integers(1, 5))):
        name = draw(st.sampled_from(("cpu", "mem", "lat")))
        host = draw(st.sampled_from(HOSTS + ("",)))
        times = draw(st.sampled_from(grids)) if draw(st.booleans()) else sorted(
            set(draw(st.lists(st.integers(0, 60), min_size=1, max_size=12))))
        attrs = {"k": str(k)} if draw(st.booleans()) else {}
        for t in times:
            points.append(MetricPoint(name=name, value=draw(st.floats(-1e6, 1e6)), time_ns=t * step,
                                      type="gauge", service="api", host=host, attributes=attrs))
    return points


@settings(max_examples=300, deadline=None)
@given(first=series_points(), later=series_points(), data=st.data())
def test_readings_follow_the_rule_per_series(first, later, data):
    index = MetricIndex(CorrelateConfig())
    index.add(first)
    # Times on half-second steps, as the samples are: ties between neighbours happen.
    half = st.integers(0, 6).map(lambda k: k * S // 2)
    spans = st.tuples(st.integers(0, 640).map(lambda k: k * S // 2), half, st.sampled_from(HOSTS),
                      st.dictionaries(st.sampled_from(HOSTS), st.integers(-2, 2).map(lambda k: k * S // 2)))
    for batch in (None, later):
        if batch:
            index.add(batch)  # readings remembered before must not outlive new points
        for _ in range(6):
            start, length, host, offsets = data.draw(spans)
            series = index.series_for("api", "", host)
            got = index.readings(series, start, start + length, offsets)
            want = plain_readings(index, first, "api", host, start, start + length, offsets)
            assert got == want
            assert list(got[0]) == list(want[0])  # the Map's keys in the same order
            got[0]["extra"] = 1.0  # the caller's own copy: the next span is unaffected
            assert index.readings(series, start, start + length, offsets) == want


def test_series_on_one_scrape_share_one_search_and_keep_their_own_values():
    index = MetricIndex(CorrelateConfig())
    index.add([MetricPoint(name=n, value=v + t, time_ns=t * 10 * S, type="gauge", service="api", host="h1")
               for t in range(5) for n, v in (("cpu", 0.5), ("mem", 100.0))])
    series = index.series_for("api", "", "h1")
    vals, _ = index.readings(series, 21 * S, 21 * S + 1000, {})
    assert vals == {"cpu": 2.5, "mem": 102.0} and [s.label for s in series] == ["cpu", "mem"]
    assert len(index._grids[id(series)].grids) == 1  # one search for both series
