"""A bounded time index of metric samples per series, for joining readings onto spans.

Every worker reads all metric points, so this index is the same on each worker and a span
joins the same readings wherever its trace is processed. Per series only the newest
`metric_points_per_series` samples are kept. A span takes, per series of its service on its
host/instance (plus service-wide series), the sample closest to the span within the metric
window; a series sampled more coarsely than the window instead gives the sample covering the
span (the latest at or before its end). Exemplars carrying a trace id join their span
directly and win over windowed readings of the same series.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import OrderedDict
from itertools import repeat
from math import sqrt
from operator import mul, sub

from pipeline.column_batch import ColumnBatch
from pipeline.correlate.engine_config import CorrelateConfig
from pipeline.model import Exemplar, MetricPoint

try:
    import cython  # compiled: C types for the per-span loop below; plain: Cython's no-op shadow
except ImportError:  # plain Python without Cython installed (a TELECORR_PURE=1 install)
    from pipeline.correlate import cython_shadow as cython

Z_CAP = 1000.0  # a reading off a perfectly flat baseline gets +/-Z_CAP, not infinity


class _Series:
    __slots__ = ("label", "host", "times", "values", "zcache")

    def __init__(self, label: str, host: str) -> None:
        self.label = label
        self.host = host
        self.times: list[int] = []
        self.values: list[float] = []
        self.zcache: dict[int, float] = {}


_MEMO_CAP = 4096  # sample choices remembered per series view between additions of points


class _View:
    """One `series_for` answer grouped into grids: series on one host with equal sample times.
    `slot[k]` is the grid of `series[k]`; `memo` maps the sample index chosen in each grid to
    the readings it gives (valid until points are added: MetricIndex.readings)."""

    __slots__ = ("series", "grids", "slot", "memo")

    def __init__(self, series: list[_Series]) -> None:
        self.series = series
        self.grids: list[tuple[str, list[int]]] = []
        self.slot: list[int] = []
        self.memo: dict[tuple, tuple[dict[str, float], dict[str, float]]] = {}
        for s in series:
            for k, (host, times) in enumerate(self.grids):
                if host == s.host and (times is s.times or times == s.times):
                    self.slot.append(k)
                    break
            else:
                self.slot.append(len(self.grids))
                self.grids.append((s.host, s.times))


@cython.locals(a=cython.longlong, b=cython.longlong, w=cython.longlong, i=cython.Py_ssize_t,
               j=cython.Py_ssize_t, n=cython.Py_ssize_t)
def _pick(times: list[int], a: int, b: int, w: int) -> int:
    """The index of the sample a series gives the interval [a, b] (on the series' clock), or -1.

    The latest sample inside the interval; else the nearer neighbour within the window (ties:
    later); else, for a series sampled more coarsely than the window, the sample covering it.
    """
    j = bisect_right(times, b)  # first sample after the span
    i = j - 1
    if i >= 0 and times[i] >= a:
        return i
    before = i >= 0 and times[i] >= a - w
    if j < len(times) and times[j] <= b + w and (not before or times[j] - b <= a - times[i]):
        return j
    if before:
        return i
    if i < 0:
        return -1
    n = len(times)
    step = (times[-1] - times[0]) / (n - 1) if n > 1 else float("inf")
    if step <= w or b - times[i] > 1.5 * step:
        return -1
    return i


def series_label(name: str, attributes: dict[str, str]) -> str:
    """The reading's name: the metric name, plus its attributes when it has any."""
    if not attributes:
        return name
    return name + "{" + ",".join(f"{k}={v}" for k, v in sorted(attributes.items())) + "}"


class MetricIndex:
    """Series samples and exemplars, bounded in points per series, series and exemplar traces."""

    def __init__(self, config: CorrelateConfig, max_series: int = 100_000) -> None:
        self._cfg = config
        self._max_series = max_series
        self._series: dict[tuple, _Series] = {}
        # (service, host) / (service, "#" + instance) / (service, "") -> series joined there
        self._by_node: dict[tuple[str, str], list[_Series]] = {}
        self._exemplars: OrderedDict[str, list[tuple[str, str, float]]] = OrderedDict()
        self._lookup: dict[tuple[str, str, str], list[_Series]] = {}  # series_for cache
        self.series_dropped = 0
        self.points = 0
        self._grids: dict[int, _View] = {}  # id(series_for answer) -> its grids (readings)
        self._grid_points = 0  # self.points when _grids was last valid

    def add(self, points: ColumnBatch | list[MetricPoint]) -> None:
        """Index a batch of points, read from its columns; a repeated (series, time) replaces
        the earlier value."""
        cols = (points if type(points) is ColumnBatch else ColumnBatch.of(MetricPoint, points)).cols
        cap = self._cfg.metric_points_per_series
        for name, service, instance, host, attrs, t, value, exemplars in zip(
                cols["name"], cols["service"], cols["instance"], cols["host"], cols["attributes"], cols["time_ns"],
                cols["value"], cols["exemplars"]):
            key = (name, service, instance, host, tuple(sorted(attrs.items())) if attrs else ())
            s = self._series.get(key)
            if s is None:
                if len(self._series) >= self._max_series:
                    self.series_dropped += 1
                    continue
                s = self._series[key] = _Series(series_label(name, attrs), host)
                self._register(s, service, instance, host)
            times = s.times
            if not times or t > times[-1]:
                times.append(t)
                s.values.append(value)
            else:
                i = bisect_left(times, t)
                if i < len(times) and times[i] == t:
                    s.values[i] = value
                else:
                    times.insert(i, t)
                    s.values.insert(i, value)
                s.zcache.clear()
            if len(times) > cap + cap // 2:
                del times[: len(times) - cap]
                del s.values[: len(s.values) - cap]
                s.zcache.clear()
            self.points += 1
            if exemplars:
                self._add_exemplars(s.label, exemplars)

    def _register(self, s: _Series, service: str, instance: str, host: str) -> None:
        keys = []
        if host:
            keys.append((service, host))
        if instance:
            keys.append((service, "#" + instance))
        if not keys:
            keys.append((service, ""))
        for k in keys:
            self._by_node.setdefault(k, []).append(s)
        self._lookup.clear()

    def _add_exemplars(self, label: str, exemplars: list[Exemplar]) -> None:
        for ex in exemplars:
            if not ex.trace_id:
                continue
            lst = self._exemplars.get(ex.trace_id)
            if lst is None:
                if len(self._exemplars) >= self._cfg.max_exemplar_traces:
                    self._exemplars.popitem(last=False)
                lst = self._exemplars[ex.trace_id] = []
            entry = (ex.span_id, label, ex.value)
            if entry not in lst:
                insort(lst, entry)

    def exemplars(self, trace_id: str) -> list[tuple[str, str, float]]:
        """(span_id, series label, value) exemplars recorded for a trace, sorted."""
        return self._exemplars.get(trace_id, [])

    def series_for(self, service: str, instance: str, host: str) -> list[_Series]:
        """Series that describe this service on this host/instance, and service-wide ones."""
        key = (service, instance, host)
        found = self._lookup.get(key)
        if found is None:
            found = []
            nodes = [(service, "")]
            if host:
                nodes.append((service, host))
            if instance:
                nodes.append((service, "#" + instance))
            for node in nodes:
                for s in self._by_node.get(node, ()):
                    if s not in found:
                        found.append(s)
            if len(self._lookup) >= self._max_series:
                self._lookup.clear()
            self._lookup[key] = found
        return found

    def readings(self, series: list[_Series], start_ns: int, end_ns: int,
                 offsets: dict[str, int]) -> tuple[dict[str, float], dict[str, float]]:
        """Values and z-scores of the given series for a span's skew-corrected interval.

        Each series' samples are on its host's clock, so the interval is shifted onto that
        clock with the host's offset (for a series on the span's own host the two cancel).
        Series of one host sampled at the same times (one scrape) pick the same sample, so
        the search runs once per such grid, and the readings of one choice of samples are
        built once and copied for every span that makes it, until points are added.
        """
        if self._grid_points != self.points:
            self._grids.clear()
            self._grid_points = self.points
        view = self._grids.get(id(series))
        if view is None or view.series is not series:
            if len(self._grids) >= self._max_series:
                self._grids.clear()
            view = self._grids[id(series)] = _View(series)
        w = self._cfg.metric_window_ns
        get_off = offsets.get if offsets else None
        picks = []
        for host, times in view.grids:
            off = get_off(host, 0) if get_off is not None else 0
            picks.append(_pick(times, start_ns + off, end_ns + off, w))
        key = tuple(picks)
        hit = view.memo.get(key)
        if hit is None:
            vals: dict[str, float] = {}
            zs: dict[str, float] = {}
            for s, g in zip(series, view.slot):
                i = picks[g]
                if i >= 0:
                    vals[s.label] = s.values[i]
                    z = s.zcache.get(s.times[i])
                    zs[s.label] = self._z(s, i) if z is None else z
            if len(view.memo) >= _MEMO_CAP:
                view.memo.clear()
            hit = view.memo[key] = (vals, zs)
        return dict(hit[0]), dict(hit[1])

    def _z(self, s: _Series, i: int) -> float:
        t = s.times[i]
        z = s.zcache.get(t)
        if z is not None:
            return z
        base = s.values[max(0, i - self._cfg.metric_baseline_points): i]
        v = s.values[i]
        n = len(base)
        if n < 2:
            z = 0.0
        else:
            k = base[0]  # shifted by a sample so large values keep their precision
            d = list(map(sub, base, repeat(k, n)))
            s1 = sum(d)
            mean = k + s1 / n
            var = (sum(map(mul, d, d)) - s1 * s1 / n) / (n - 1)
            if var > 1e-12 * (mean * mean + 1.0):
                z = max(-Z_CAP, min(Z_CAP, (v - mean) / sqrt(var)))
            else:
                z = 0.0 if v == mean else (Z_CAP if v > mean else -Z_CAP)
        s.zcache[t] = z
        return z
