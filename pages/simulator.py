"""Simulator: describe an order in the ticket above the results; see what it would cost on the live book.

The inputs live outside the fragment (so they never reset or flicker on refresh) and reach it through
session state; the fragment reads the latest book, applies the venue's size rules, calls
``core.views.simulator.live_view`` and renders. The order ticket is in the main column (reachable on a phone
without the sidebar covering the results); the sidebar holds the market, the cost settings and, at its
bottom, the refresh rate.
"""

import time
import uuid

import streamlit as st

from core.views import inputs as vi
from core.views import simulator as sim
from core.views.charts import ShownCharts, hold_charts, simulator_figures
from core.views.preview import CARD_STYLE, QUESTION, TICKET_KEY
from pages.common import (
    NoticeBox,
    current_summary,
    get_runtime,
    refresh_control,
    shared_charts,
    shared_views,
    status_line,
    timed_refresh,
)
from pages.compare_panel import compare_panel, live_figures
from pages.cost_cards import render
from pages.cost_form import cost_inputs
from pages.order_form import order_inputs, raw_inputs, show_message, sized
from pages.source_picker import follow_feed, needs_full_run, source_inputs, switched_elsewhere

#: the status line and notices live in a box of this height, so the cards below never move when a message
#: comes or goes (a longer message scrolls inside the box; errors and warnings come first, ``NoticeBox``)
NOTICES_HEIGHT_PX = 104
#: a session's first run waits this long at most for the first book of a feed that has just started (the replay's
#: first book comes 0.02-0.1 s after the runtime): with none, the cost cards would wait for the next refresh, a
#: second later (issue 15, startup). Later runs never wait.
FIRST_BOOK_WAIT_S = 1.0

DEFAULTS = {
    "sim_side": "buy",
    "sim_order_type": "market",
    "sim_qty_usd": f"{vi.DEFAULT_QUANTITY_USD:g}",
    "sim_size_unit": vi.EntryUnit.USD.value,
    "sim_offset_bps": 0.0,
    "sim_horizon_s": 10.0,
    "sim_at_expiry": "cross",
    "sim_fee_override": False,
    "sim_vol_override": False,
    "sim_vol_pct": 50.0,
    "sim_latency_ms": vi.DEFAULT_LATENCY_MS,
    "sim_feed_error": "",
    "sim_last_good": None,  # the last valid Scenario (venue rules applied), priced while an input is being fixed
}


def live_view(rt, refresh_s: float | None) -> None:
    t0 = time.perf_counter()
    ss = st.session_state
    if needs_full_run(rt) and time.monotonic() - ss.get("sim_followed_at", 0.0) > 1.0:
        # The shared feed was switched (another session, the Data page, or this session's own widget in a
        # fragment run): rerun the whole page so the sidebar shows, and the view prices, what the feed streams.
        ss["sim_followed_at"] = time.monotonic()
        st.rerun(scope="app")
    exchange, symbol = ss["sim_instrument"]
    inst = rt.instrument(exchange, symbol)
    # one snapshot for everything this refresh shows: the one sessions refreshing within 0.1 s share
    if ss.get("sim_waited_first_book"):
        snap = shared_views().book(rt, exchange, symbol, time.monotonic())
    else:  # a session's first run waits (bounded) for a feed that has just started
        ss["sim_waited_first_book"] = True
        snap = shared_views().first_book(rt, exchange, symbol, FIRST_BOOK_WAIT_S)
    summary = current_summary(rt, snap)
    # The status line and every message share one fixed-height box: the cards and charts below keep their
    # place, so they update in place instead of being redrawn (no jump, no flicker).
    notices = NoticeBox(NOTICES_HEIGHT_PX)
    with notices.box:
        status_line(summary)
    if snap is None:
        notices.info(f"Waiting for the first {symbol} order book…", icon=":material/hourglass_top:")
        return
    switched = switched_elsewhere()
    if switched:
        notices.warning(switched, icon=":material/sync_problem:")
    status = rt.status()
    elsewhere = (status.exchange, status.symbol) != (exchange, symbol)
    if elsewhere:
        notices.warning(
            f"The shared feed now streams {status.symbol} on {status.exchange}; pricing on the last {symbol} book.",
            icon=":material/sync_problem:",
        )
    scenario = sized(ss["sim_scenario"], rt, exchange, symbol, snap)
    last_good = ss["sim_last_good"]
    priced = scenario if scenario.ok else last_good
    first = scenario.errors.get(vi.QUANTITY) if scenario.sizing is not None else None
    fix = first.rstrip(".") if first else "An order input needs fixing (see the message under it)"
    if priced is None:
        notices.error(fix + ".", icon=":material/error:")
        return
    # the feed thread prices this order on every book from now on (shared with sessions of the same inputs)
    session = ss.setdefault("sim_session_id", uuid.uuid4().hex)  # new inputs release this session's old track
    # the charts: those any session showing this order built within CHART_PERIOD_S; on an input's run, those on
    # screen, unchanged, when the next timed refresh comes soon (core.views.charts.hold_charts says why)
    shared, key = shared_charts(), sim.track_key(priced, exchange, symbol, rt.models().models)
    shown: ShownCharts | None = ss.get("sim_charts_shown")
    now, timed = time.monotonic(), timed_refresh()
    held = hold_charts(shown, key, now_s=now, timed=timed, refresh_s=refresh_s)
    # A session's first run draws the cards and leaves the charts to the next refresh: the browser shows a run's
    # elements once every element's code has loaded, and Plotly's is the largest by far (4.7 MB), so with the
    # charts in it the first cost figure waited for Plotly to load
    deferred = shown is None and refresh_s is not None and not ss.get("sim_charts_deferred")
    ss["sim_charts_deferred"] = True
    recent = shared.fresh(key, now) if timed else None
    view = shared_views().live_view(rt, snap, priced, exchange=exchange, symbol=symbol, owner=session, curve=False)
    if scenario.ok and view.error is None:  # only an order the engine priced is kept to show while one is fixed
        ss["sim_last_good"] = scenario
    elif not scenario.ok:  # said once the kept order is priced: it may no longer price on this book
        if view.error is not None:
            ss["sim_last_good"] = None  # then only the input's own message, not the kept order's stale one
            notices.error(fix + ".", icon=":material/error:")
            return
        notices.error(fix + "; showing the last valid order meanwhile.", icon=":material/error:")

    def charts() -> dict:  # built when drawn, after the cards: the curve's 31 estimates do not delay them
        if held and shown is not None:
            figures, of = shown.charts, shown.key
        else:
            figures, of = recent, key
            if figures is None:
                full = sim.with_curve(rt, snap, priced, view)
                figures = shared.put(key, simulator_figures(full, inst.base, inst.quote), time.monotonic())
        ss["sim_charts_shown"] = ShownCharts(of, figures, time.monotonic(), held)
        return figures

    age = snap.age_s(time.time_ns())
    live_figures(rt, view, notices)
    stale = summary.stale or elsewhere
    paused = refresh_s is None
    render(
        view,
        inst,
        priced.sizing,
        stale=stale,
        age_s=age,
        paused=paused,
        notices=notices,
        charts=charts,
        held=held,
        deferred=deferred,
    )
    rt.record_refresh((time.perf_counter() - t0) * 1e3)


def simulator_page() -> None:
    rt = get_runtime()
    for k, v in DEFAULTS.items():
        if k not in st.session_state:
            st.session_state[k] = v
    follow_feed(rt)
    loaded = rt.models()
    st.title("Simulator")
    # HTML allowed in a sentence without any: the browser then loads Markdown's HTML support (its rehype-raw chunk,
    # 189 kB) now, while this run goes on, not after the cost cards (HTML) arrive at its end (issue 15, startup)
    st.markdown(QUESTION, unsafe_allow_html=True)
    st.html(CARD_STYLE)  # the cost cards' look, once a run of the page (it takes no space; refreshes reuse it)
    slots: dict = {}
    with st.sidebar:  # drawn top to bottom: market, costs, then the refresh rate (needed first, drawn last)
        market_box, costs_box, refresh_box = st.container(), st.container(), st.container()
    with refresh_box:
        st.divider()
        interval = refresh_control("sim_refresh")
    with market_box:
        st.header("Market")
        exchange, symbol = source_inputs(rt)
    inst = rt.instrument(exchange, symbol)
    snap = rt.latest(exchange, symbol)
    with st.container(border=True, key=TICKET_KEY):
        order_inputs(rt, loaded, exchange, symbol, slots)
    with costs_box:
        st.header("Costs")
        cost_inputs(exchange, sim.market_kind(inst), snap, rt.mids(exchange, symbol), slots)
    scenario = vi.parse_inputs(
        raw_inputs(),
        exchange=exchange,
        market=sim.market_kind(inst),
        limit_available=loaded.models.maker_taker is not None,
        instrument=inst,
        ranges=vi.model_ranges(loaded.models),
    )
    st.session_state["sim_scenario"] = scenario
    st.session_state["sim_instrument"] = (exchange, symbol)
    shown = sized(scenario, rt, exchange, symbol, snap)  # the venue's rules, to say next to the size box
    for field, slot in slots.items():
        show_message(slot, shown.errors, field)
        if field in shown.notes and field not in shown.errors:
            slot.caption(shown.notes[field])
    if shown.sizing is not None and shown.sizing.rounded and vi.QUANTITY not in shown.errors:
        slots[vi.QUANTITY].caption(f"→ {shown.sizing.rounded}")

    @st.fragment(run_every=interval)
    def live() -> None:
        live_view(rt, interval)

    live()
    compare_panel(rt, exchange, symbol, raw_inputs(), market=sim.market_kind(inst), loaded=loaded)


simulator_page()
