"""Execution: plan an order in slices over time, calibrated on the current book, beside one market order now."""

import math
import time

import streamlit as st

from core.errors import SimulatorError
from core.views.execution import (
    CALIBRATION,
    DEFAULT_HORIZON_S,
    DEFAULT_NOTIONAL_USD,
    DEFAULT_SLICES,
    DEFAULT_URGENCY,
    SIMULATOR_DEFAULTS,
    SUMMARY,
    URGENCY_CHOICES,
    URGENCY_WORDS,
    check_inputs,
    execution_plan,
    planned_instrument,
)
from pages.common import current_summary, get_runtime, refresh_control, status_line
from pages.execution_plan import render
from pages.order_form import raw_inputs

URGENCY_HELP = "How soon the order should be done. " + "; ".join(
    f"{u.value}: {words}" for u, words in URGENCY_WORDS.items()
)


def execution_page() -> None:
    rt = get_runtime()
    ss = st.session_state
    st.title("Execution")
    st.markdown(SUMMARY)
    st.caption(CALIBRATION)
    inst = planned_instrument(rt, ss.get("sim_instrument"))
    use_sim = st.toggle(
        "Use the Simulator's order",
        value=True,
        key="exec_use_sim",
        help="Plan the side, size, instrument and fee tier set on the Simulator page; switch off to type another "
        "side and size (the instrument and fee tier stay the Simulator's).",
    )
    cols = st.columns(5)
    side = notional = None
    if not use_sim:
        side = cols[0].segmented_control(
            "Side", ["buy", "sell"], default="buy", required=True, key="exec_side", help="Buy or sell the order."
        )
        notional = cols[1].number_input(
            "Order size (USD)",
            value=DEFAULT_NOTIONAL_USD,
            step=100_000.0,
            format="%.2f",
            key="exec_notional",
            help="Notional to execute, USD; converted to base units on the current book.",
        )
    horizon = cols[2].number_input(
        "Horizon (s)",
        value=DEFAULT_HORIZON_S,
        step=60.0,
        format="%.0f",
        key="exec_horizon",
        help="Time to complete the order, seconds (at most one day).",
    )
    slices = cols[3].number_input(
        "Slices",
        value=DEFAULT_SLICES,
        step=1,
        key="exec_slices",
        help="Number of market orders, sent at equal intervals of horizon / slices seconds; 1 = all now.",
    )
    urgency = cols[4].select_slider(
        "Urgency", URGENCY_CHOICES, value=DEFAULT_URGENCY.value, key="exec_urgency", help=URGENCY_HELP
    )
    check = check_inputs(
        simulator=raw_inputs() if "sim_scenario" in ss else SIMULATOR_DEFAULTS,  # not opened yet: its defaults
        exchange=inst.exchange,
        symbol=inst.symbol,
        market=inst.market,
        use_simulator=use_sim,
        side=side,
        notional_usd=notional,
        horizon_s=horizon,
        slices=slices,
        urgency=urgency,
        tick_interval_s=inst.tick_interval_s,
        mid=book.mid if (book := rt.latest(inst.exchange, inst.symbol)) is not None else math.nan,
        instrument=rt.instrument(inst.exchange, inst.symbol),
    )
    slot = {"side": cols[0], "notional": cols[1], "horizon": cols[2], "slices": cols[3], "urgency": cols[4]}
    for name, message in check.errors.items():
        own = name in slot and not (use_sim and name in ("side", "notional"))  # else the message goes on top
        (slot[name] if own else st).error(message, icon=":material/error:")
    if check.max_slices is not None:
        cols[3].caption(f"1 to {check.max_slices:,} slices; for example {', '.join(map(str, check.suggestions))}.")
    if check.order_text:
        st.caption(check.order_text)
    interval = refresh_control("exec_refresh")
    inputs = check.inputs
    if inputs is None:
        return

    @st.fragment(run_every=interval)
    def live_view() -> None:
        t0 = time.perf_counter()
        snap = rt.latest(inst.exchange, inst.symbol)  # one snapshot for everything this refresh shows
        status_line(current_summary(rt, snap))
        if snap is None:
            st.info(f"Waiting for the first {inst.symbol} order book…", icon=":material/hourglass_top:")
            return
        try:
            plan = execution_plan(rt, snap, inputs)
        except SimulatorError as exc:
            st.warning(str(exc), icon=":material/warning:")
            return
        render(plan)
        rt.record_refresh((time.perf_counter() - t0) * 1e3)

    live_view()


execution_page()
