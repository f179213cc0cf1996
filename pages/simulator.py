"""Simulator: describe an order in the sidebar; see what it would cost on the live book, tick by tick.

The inputs live outside the fragment (so they never reset or flicker on refresh) and reach it through
session state; the fragment reads the latest book, calls ``core.views.simulator.live_view`` and renders.
"""

import time
import uuid

import streamlit as st

from core.views import inputs as vi
from core.views import simulator as sim
from core.views.formatting import base_amount
from pages.common import current_summary, get_runtime, refresh_control, status_line
from pages.compare_panel import compare_panel, live_figures
from pages.cost_cards import render
from pages.cost_form import cost_inputs
from pages.order_form import order_inputs, raw_inputs
from pages.source_picker import follow_feed, needs_full_run, source_inputs

DEFAULTS = {
    "sim_side": "buy",
    "sim_order_type": "market",
    "sim_qty_usd": vi.DEFAULT_QUANTITY_USD,
    "sim_offset_bps": 0.0,
    "sim_horizon_s": 10.0,
    "sim_at_expiry": "cross",
    "sim_fee_override": False,
    "sim_vol_override": False,
    "sim_vol_pct": 50.0,
    "sim_latency_ms": vi.DEFAULT_LATENCY_MS,
    "sim_feed_error": "",
    "sim_last_good": None,  # the last valid Scenario, priced while an input is being fixed
}


def _message(slot, errors: dict, field: str) -> None:
    if field in errors:
        slot.error(errors[field], icon=":material/error:")


def live_view(rt) -> None:
    t0 = time.perf_counter()
    ss = st.session_state
    if needs_full_run(rt) and time.monotonic() - ss.get("sim_followed_at", 0.0) > 1.0:
        # The shared feed was switched (another session, the Data page, or this session's own widget in a
        # fragment run): rerun the whole page so the sidebar shows, and the view prices, what the feed streams.
        ss["sim_followed_at"] = time.monotonic()
        st.rerun(scope="app")
    exchange, symbol = ss["sim_instrument"]
    inst = rt.instrument(exchange, symbol)
    snap = rt.latest(exchange, symbol)  # one snapshot for everything this refresh shows
    summary = current_summary(rt, snap)
    # Messages come and go; in fixed containers they never shift the metrics and charts below, so those
    # update in place instead of being redrawn (no flicker).
    with st.container():
        status_line(summary)
    notices = st.container()
    if snap is None:
        notices.info(f"Waiting for the first {symbol} order book…", icon=":material/hourglass_top:")
        return
    status = rt.status()
    elsewhere = (status.exchange, status.symbol) != (exchange, symbol)
    if elsewhere:
        notices.warning(
            f"The shared feed now streams {status.symbol} on {status.exchange}; pricing on the last {symbol} book.",
            icon=":material/sync_problem:",
        )
    scenario = ss["sim_scenario"]
    priced = scenario if scenario.ok else ss["sim_last_good"]
    if not scenario.ok:
        notices.error(
            "An order input needs fixing (see the sidebar)"
            + ("; showing the last valid order meanwhile." if priced else "."),
            icon=":material/error:",
        )
        if priced is None:
            return
    # the feed thread prices this order on every book from now on (shared with sessions of the same inputs)
    session = ss.setdefault("sim_session_id", uuid.uuid4().hex)  # new inputs release this session's old track
    view = sim.live_view(rt, snap, priced, exchange=exchange, symbol=symbol, owner=session)
    age = snap.age_s(time.time_ns())
    live_figures(rt, view, notices)
    render(view, inst, stale=summary.stale or elsewhere, age_s=age, notices=notices)
    rt.record_refresh((time.perf_counter() - t0) * 1e3)


def simulator_page() -> None:
    rt = get_runtime()
    for k, v in DEFAULTS.items():
        if k not in st.session_state:
            st.session_state[k] = v
    follow_feed(rt)
    loaded = rt.models()
    st.title("Simulator")
    interval = refresh_control("sim_refresh")
    slots: dict = {}
    with st.sidebar:
        st.header("Market")
        exchange, symbol = source_inputs(rt, interval)
        inst = rt.instrument(exchange, symbol)
        snap = rt.latest(exchange, symbol)
        mids = rt.mids(exchange, symbol)
        st.header("Order")
        order_inputs(loaded, slots)
        st.header("Costs")
        cost_inputs(exchange, sim.market_kind(inst), snap, mids, slots)
    scenario = vi.parse_inputs(
        raw_inputs(),
        exchange=exchange,
        market=sim.market_kind(inst),
        limit_available=loaded.models.maker_taker is not None,
    )
    for field, slot in slots.items():
        _message(slot, scenario.errors, field)
        if field in scenario.notes and field not in scenario.errors:
            slot.caption(scenario.notes[field])
    if scenario.order is not None and snap is not None:
        slots["quantity_base"].caption(
            f"≈ {base_amount(scenario.order.quantity / snap.mid, inst.base)} at mid {snap.mid:,.2f} {inst.quote}"
        )
        warning = sim.depth_warning(snap, scenario.order.side, scenario.order.quantity)
        if warning and vi.QUANTITY not in scenario.errors:
            slots[vi.QUANTITY].warning(warning, icon=":material/warning:")
    st.session_state["sim_scenario"] = scenario
    st.session_state["sim_instrument"] = (exchange, symbol)
    if scenario.ok:
        st.session_state["sim_last_good"] = scenario

    @st.fragment(run_every=interval)
    def live() -> None:
        live_view(rt)

    live()
    compare_panel(rt, exchange, symbol, raw_inputs(), market=sim.market_kind(inst), loaded=loaded)


simulator_page()
