"""core.views.latency: percentiles, histogram bins, replay pacing and the page's view, with hand-checked numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.views.latency import histogram, histogram_figure, latency_view, percentiles, rate_figure, replay_lateness_ms


def test_percentiles_of_one_to_ten():
    # numpy's linear interpolation: p50 = 5.5, p90 = 1 + 0.9 * 9 = 9.1, p99 = 1 + 0.99 * 9 = 9.91
    p = percentiles(np.arange(1, 11))
    assert p == pytest.approx({"p50": 5.5, "p90": 9.1, "p99": 9.91, "max": 10.0})


def test_percentiles_ignore_nan_and_are_nan_when_empty():
    assert percentiles(np.array([np.nan, 1.0, 3.0, np.inf]))["p50"] == 2.0
    assert all(math.isnan(v) for v in percentiles(np.array([])).values())


def test_histogram_counts_outliers_above_p99_apart():
    v = np.r_[np.arange(100.0), 1000.0]  # p99 of these 101 values is 99
    h = histogram(v, bins=10)
    assert h.edges[0] == 0 and h.edges[-1] == 99
    assert h.counts[0] == 10  # 0..9 fall in [0, 9.9)
    assert h.counts.sum() == 100 and h.above == 1 and h.max == 1000
    assert h.centers[0] == pytest.approx(4.95) and h.widths[0] == pytest.approx(9.9)


def test_histogram_of_equal_values_and_of_nothing():
    h = histogram(np.array([5.0, 5.0, 5.0]), bins=1)
    assert h.edges.tolist() == [4.75, 5.25] and h.counts.tolist() == [3]
    assert histogram(np.array([np.nan])).counts.size == 0
    with pytest.raises(ValueError):
        histogram(np.arange(3.0), bins=0)


def test_replay_lateness_is_pacing_per_pass():
    # speed 2: the server sends ts at T0 + (ts - 1000)/2; messages arrive 0, 5, 1 ms late, then the
    # recording loops (ts goes back) and the second pass arrives 3 and 4 ms late.
    t0 = 1.7e12
    ts = np.array([1000.0, 1200.0, 1400.0, 1000.0, 1200.0])
    recv_ms = np.array([t0, t0 + 100 + 5, t0 + 200 + 1, t0 + 300 + 3, t0 + 400 + 4])
    late = replay_lateness_ms(recv_ms / 1000.0, recv_ms - ts, speed=2.0)
    assert late == pytest.approx([0.0, 5.0, 1.0, 0.0, 1.0], abs=1e-3)
    assert np.isnan(replay_lateness_ms(recv_ms / 1000.0, recv_ms - ts, speed=0.0)).all()  # unpaced


def _timings(n: int = 100) -> dict[str, np.ndarray]:
    return {
        "recv_s": 1.7e9 + np.arange(n) * 0.05,
        "parse_us": np.arange(1.0, n + 1),  # 1..100 us
        "book_us": np.full(n, 200.0),
        "publish_us": np.full(n, 10.0),
        "feed_delay_ms": np.full(n, 50.0),
        "cost_us": np.array([30.0, 40.0]),
        "refresh_ms": np.array([]),
        "tick_cost_us": np.array([8.0, 9.0, 10.0]),
        "tracked_orders": np.array([1.0, 1.0, 2.0]),
    }


def test_latency_view_table_has_units_and_percentiles():
    rate = (np.array([1.7e9, 1.7e9 + 1, np.nan]), np.array([20.0, 19.0, 5.0]))
    v = latency_view(_timings(), rate, replay_speed=None)
    t = v.table.set_index("measure")
    assert t.loc["Parse", "unit"] == "µs" and t.loc["Parse", "samples"] == 100
    assert t.loc["Parse", "p50"] == pytest.approx(50.5) and t.loc["Parse", "max"] == 100
    assert t.loc["Explained estimate", "p50"] == pytest.approx(35.0)
    assert t.loc["Pricing per tick", "p50"] == pytest.approx(9.0) and t.loc["Pricing per tick", "samples"] == 3
    assert t.loc["Feed delay", "unit"] == "ms" and t.loc["Feed delay", "p99"] == 50.0
    assert t.loc["Page refresh", "samples"] == 0 and math.isnan(t.loc["Page refresh", "p50"])
    assert list(v.table.columns) == ["measure", "unit", "samples", "p50", "p90", "p99", "max"]
    assert v.rate.tolist() == [20.0, 19.0] and str(v.rate_time[0]) == "2023-11-14T22:13:20"
    assert not v.replay and "clock offset" in v.delay_note


def test_latency_view_on_a_replay_shows_pacing_not_delay():
    v = latency_view(_timings(), (np.array([]), np.array([])), replay_speed=1.0)
    d = v.measure("feed_delay_ms")
    assert d.name == "Replay pacing lateness" and "not a network delay" in v.delay_note
    assert d.values.max() < 1e-3  # a constant raw delay means perfectly paced messages


def test_figures_draw_the_data():
    v = latency_view(_timings(), (np.array([1.7e9]), np.array([20.0])), replay_speed=None)
    fig = histogram_figure([v.measure("parse_us"), v.measure("book_us"), v.measure("cost_us")], title="t")
    assert [tr.name for tr in fig.data] == ["Parse", "Book update", "Explained estimate"]
    assert sum(sum(tr.y) for tr in fig.data) <= 202  # points above the pooled p99 are noted, not drawn
    empty = histogram_figure([v.measure("refresh_ms")], title="r")
    assert not empty.data and "No samples yet" in empty.layout.annotations[-1].text
    assert list(rate_figure(v).data[0].y) == [20.0]
