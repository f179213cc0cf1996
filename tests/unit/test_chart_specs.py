"""The Simulator's charts as plain specs: what the page sends (``Prebuilt``) is exactly what plotly makes of the
same spec after validating it, the shared charts expire and stay bounded, and small text tables escape Markdown."""

import json
from dataclasses import replace
from functools import partial

import pandas as pd
import plotly.io as pio
from plotly.tools import return_figure_from_figure_or_data

from core.feed.goquant import parse_snapshot
from core.feed.store import BookStore
from core.market.instruments import get_instrument
from core.pricing.tracker import CostTracker
from core.views import charts as ch
from core.views import inputs as vi
from core.views import simulator as sc
from core.views.formatting import markdown_table

INST = get_instrument("binance-futures", "BTCUSDT")


def _view(recorded_messages, **raw):
    scenario = vi.parse_inputs(
        replace(vi.RawInputs(), **raw), exchange=INST.exchange, market=INST.kind, limit_available=False
    )
    store = BookStore()
    tracker = CostTracker(mids=store.mids, record_tick_cost=store.record_tick_cost)
    track = tracker.track(
        sc.track_key(scenario, INST.exchange, INST.symbol, None),
        lambda: sc.pricer_for(scenario, None),
        exchange=INST.exchange,
        symbol=INST.symbol,
    )
    for i, raw_msg in enumerate(recorded_messages[:60]):
        snap = replace(parse_snapshot(raw_msg, instrument=INST), source="replay")
        if i >= 30:  # a replay that started over: exchange time steps back here
            snap = replace(snap, exchange_ts_ms=snap.exchange_ts_ms - 60_000)
        store.publish(snap)
        tracker(None, snap)
    return sc.compute_view(
        snap, scenario, ticks=tracker.figures(track), mid_history=store.mids(INST.exchange, INST.symbol)
    )


def sent(fig) -> dict:
    """The spec as ``st.plotly_chart`` serialises a figure."""
    return json.loads(pio.to_json(return_figure_from_figure_or_data(fig, validate_figure=True), validate=False))


def test_prebuilt_charts_send_what_plotly_validates(recorded_messages):
    for raw in ({"quantity_usd": 250_000.0}, {"quantity_usd": 5e7, "side": "sell"}):
        view = _view(recorded_messages, **raw)
        figures = ch.simulator_figures(view, INST.base, INST.quote)
        validated = {
            "breakdown": ch.breakdown_figure(view),
            "depth": ch.depth_figure(view, INST.base, INST.quote),
            "ticks": ch.ticks_figure(view),
            "curve": ch.curve_figure(view),
        }
        for name, fig in validated.items():
            assert sent(figures[name]) == sent(fig), name
    ticks = sent(figures["ticks"])
    assert any(a.get("text") == ch.RESTART_LABEL for a in ticks["layout"]["annotations"])  # the restart drawn
    # the same step back on a live feed's books is its exchange clock, not a replay starting over
    live = sent(ch.simulator_figures(replace(view, replay=False), INST.base, INST.quote)["ticks"])
    assert {a.get("text") for a in live["layout"]["annotations"]} == {ch.CLOCK_STEP_LABEL}
    assert isinstance(ticks["data"][0]["y"], dict) and "bdata" in ticks["data"][0]["y"]  # typed arrays, as plotly
    # the x axis is this machine's receive time; the hover gives each book's own (exchange) time, as recorded
    assert "book time %{customdata[2]} UTC (exchange)" in ticks["data"][0]["hovertemplate"]
    stamps = [row[2] for row in ticks["data"][0]["customdata"] if row[2]]
    book_ms = view.ticks["time_utc"].iloc[-1]
    assert stamps[-1] == book_ms.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], stamps[-3:]


def test_prebuilt_is_sent_as_it_is():
    spec = ch.finish({"data": [{"type": "scatter", "x": [1, 2], "y": [3, 4]}], "layout": {"height": 300}})
    assert return_figure_from_figure_or_data(ch.Prebuilt(spec), validate_figure=True) is spec
    assert spec["layout"]["template"]  # the default template, as go.Figure adds it


def test_an_input_holds_the_charts_on_screen_once_while_a_refresh_comes_soon():
    shown = ch.ShownCharts("buy", {"n": 1}, sent_s=100.0)
    hold = partial(ch.hold_charts, now_s=101.0, timed=False, refresh_s=1.0)
    assert hold(shown, "sell")  # an input's run: the buy order's charts stay until the next refresh
    assert not hold(shown, "buy")  # the same order: nothing to hold (a full run draws it afresh)
    assert not hold(None, "sell")  # nothing on screen yet
    assert not hold(replace(shown, held=True), "sell")  # held already: a second input draws the new charts
    assert not hold(shown, "sell", timed=True)  # a timed refresh draws them
    assert not hold(shown, "sell", refresh_s=None)  # paused: no refresh would ever draw them
    assert not hold(shown, "sell", refresh_s=5.0)  # too long to wait for
    assert not hold(shown, "sell", now_s=100.0 + 1.0 + ch.HOLD_SLACK_S + 0.1)  # the page was left meanwhile


def test_markdown_table_takes_text_literally():
    frame = pd.DataFrame({"component": ["  of which impact", "Net cost"], "USD": ["$5.13", "-$0.50"]})
    text = markdown_table(frame)
    lines = text.splitlines()
    assert lines[0] == "| component | USD |" and lines[1] == "|---|---|" and len(lines) == 4
    assert "&nbsp;&nbsp;of which impact" in lines[2] and "\\$5.13" in lines[2]  # no $...$ maths
    assert "\\-\\$0.50" in lines[3]
