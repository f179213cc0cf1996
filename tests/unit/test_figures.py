"""The Simulator's charts are built from a real view: the right traces, the order's fill range marked."""

from dataclasses import replace

import pytest

from core.feed.goquant import parse_snapshot
from core.market.instruments import get_instrument
from core.views import inputs as vi
from core.views import simulator as sc
from core.views.charts import breakdown_figure, curve_figure, depth_figure, ticks_figure


def test_figures_show_the_order_on_a_real_book(recorded_messages):
    inst = get_instrument("binance-futures", "BTCUSDT")
    snap = parse_snapshot(recorded_messages[0], instrument=inst)
    scenario = vi.parse_inputs(
        replace(vi.RawInputs(), quantity_usd=250_000.0), exchange=inst.exchange, market=inst.kind, limit_available=False
    )
    view = sc.compute_view(snap, scenario)
    b, d, c = breakdown_figure(view), depth_figure(view, inst.base, inst.quote), curve_figure(view)
    # temporary + impact make up the slippage (a subtotal), then fees make the net: impact is not added twice
    w = b.data[0]
    assert len(w.x) == 5 and list(w.measure) == ["relative", "relative", "total", "relative", "total"]
    e = view.estimate
    assert w.y[0] + w.y[1] == pytest.approx(e.slippage_bps) and w.y[1] == pytest.approx(e.impact_bps)
    names = " ".join(t.name or "" for t in d.data)
    assert "Bids" in names and "Asks" in names and "fill range" in names
    assert c.layout.xaxis.type == "log"


def test_ticks_figure_draws_the_feed_threads_figures(recorded_messages):
    from core.feed.store import BookStore
    from core.pricing.tracker import CostTracker

    inst = get_instrument("binance-futures", "BTCUSDT")
    scenario = vi.parse_inputs(
        replace(vi.RawInputs(), quantity_usd=50_000.0), exchange=inst.exchange, market=inst.kind, limit_available=False
    )
    store = BookStore()
    tracker = CostTracker(mids=store.mids, record_tick_cost=store.record_tick_cost)
    track = tracker.track(
        sc.track_key(scenario, inst.exchange, inst.symbol, None),
        lambda: sc.pricer_for(scenario, None),
        exchange=inst.exchange,
        symbol=inst.symbol,
    )
    empty = ticks_figure(sc.compute_view(parse_snapshot(recorded_messages[0], instrument=inst), scenario))
    assert not empty.data and "Collecting ticks" in empty.layout.annotations[0].text
    for raw in recorded_messages[:40]:
        snap = parse_snapshot(raw, instrument=inst)
        store.publish(snap)
        tracker(None, snap)
    view = sc.compute_view(snap, scenario, ticks=tracker.figures(track), timings=store.tick_timings())
    fig = ticks_figure(view)
    assert [t.name for t in fig.data] == ["net cost", "slippage", "impact"] and len(fig.data[0].y) == 40
    assert abs(fig.data[0].y[-1] - view.estimate.net_cost_bps) < 1e-9  # same book, same number
    assert view.ticks["time_utc"].is_monotonic_increasing and view.ticks["time_utc"].dt.year.iloc[0] == 2024
    assert view.latency.cost_last_us == tracker.figures(track)[-1].latency_us  # the feed thread's own timing
