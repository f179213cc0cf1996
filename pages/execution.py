"""Execution: an Almgren–Chriss schedule for working an order over time, calibrated on the current book."""

import time

import streamlit as st

from core.errors import SimulatorError
from core.views.execution import (
    CALIBRATION,
    CAVEAT,
    DEFAULT_HORIZON_S,
    DEFAULT_LAMBDA,
    DEFAULT_NOTIONAL_USD,
    DEFAULT_SLICES,
    LAMBDA_CHOICES,
    ExecutionPlan,
    check_inputs,
    execution_plan,
    format_lambda,
    frontier_figure,
    holdings_figure,
)
from pages.common import current_summary, get_runtime, refresh_control, status_line


def trade_columns(plan: ExecutionPlan) -> dict:
    u = plan.base_unit
    num = st.column_config.NumberColumn
    return {
        "start (s)": num(format="%.1f", help="Slice start, seconds from now."),
        "end (s)": num(format="%.1f", help="Slice end, seconds from now."),
        f"trade ({u})": num(format="%.4f", help=f"Quantity to trade in this slice, {u}."),
        "trade (USD at mid)": num(format="dollar", help="Slice quantity x the current mid, USD."),
        "share of order (%)": num(format="%.2f", help="Slice quantity as a percentage of the whole order."),
        f"remaining after ({u})": num(format="%.4f", help=f"Holdings still to trade after the slice, {u}."),
    }


def render(plan: ExecutionPlan) -> None:
    """Draw one plan (a plain function of the plan)."""
    s, u = plan.schedule, plan.base_unit
    c = st.columns(4)
    c[0].metric(
        "Order size", f"{plan.base_qty:,.3f} {u}", help="The USD notional walked on the current book, in base units."
    )
    c[1].metric(
        "Expected cost E",
        f"${s.expected_cost:,.2f}",
        help="Almgren–Chriss expected cost of the chosen schedule, USD (eq. 8; [Methodology](/docs?doc=methodology) 6.1).",
    )
    c[2].metric(
        "Std of cost √V",
        f"${s.std:,.2f}",
        help="Standard deviation of the cost from price moves during execution, USD.",
    )
    c[3].metric(
        "Half-life 1/κ",
        "∞ (TWAP)" if s.kappa == 0 else f"{s.half_life:,.0f} s",
        help="E-folding time of the holdings, seconds; infinite for TWAP.",
    )
    law = plan.sqrt_law
    c2 = st.columns(4)
    c2[0].metric(
        "Expected cost E (bps)",
        f"{plan.expected_cost_bps:,.2f} bps",
        help="E in basis points of the order's notional at the arrival mid; ψ and the refill time behind it are "
        "calibrated from real taker orders (see the parameter table).",
    )
    if law is not None:
        c2[1].metric(
            "Square-root law (cross-check)",
            f"{law.low_bps:,.2f}–{law.high_bps:,.2f} bps",
            help="Y·σ_daily·√(Q/V_daily), the empirical law of a metaorder's impact, beside the model as a check of "
            f"scale (not the model's number). {law.how}.",
        )
    else:
        c2[1].caption("No daily volume is known for this instrument, so no square-root-law cross-check.")
    left, right = st.columns(2)
    left.plotly_chart(holdings_figure(plan), key="exec_holdings")
    right.plotly_chart(frontier_figure(plan), key="exec_frontier")
    st.caption(
        f"TWAP: E ${s.twap_expected_cost:,.2f}, √V ${s.twap_variance**0.5:,.2f}. Immediate: E "
        f"${s.immediate_cost:,.2f}, √V $0. λ where the schedule bends away from TWAP (κ̃T = 1): "
        f"{plan.lam_c:.2e} 1/USD."
    )
    for note in plan.notes:
        st.warning(note, icon=":material/warning:")
    st.subheader("Calibrated parameters")
    st.table(plan.params, hide_index=True)
    st.subheader("Trade list")
    st.dataframe(plan.trades, hide_index=True, key="exec_trades", column_config=trade_columns(plan))


def execution_page() -> None:
    rt = get_runtime()
    st.title("Execution")
    st.info(CAVEAT, icon=":material/info:")
    st.caption(CALIBRATION)
    cols = st.columns(5)
    side = cols[0].segmented_control(
        "Side", ["buy", "sell"], default="buy", required=True, key="exec_side", help="Buy or sell the order."
    )
    notional = cols[1].number_input(
        "Order size (USD)",
        value=DEFAULT_NOTIONAL_USD,
        step=100_000.0,
        format="%.0f",
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
        help="Number of equal periods N; each slice lasts horizon / N seconds.",
    )
    lam = cols[4].select_slider(
        "Risk aversion λ (1/USD)",
        LAMBDA_CHOICES,
        value=DEFAULT_LAMBDA,
        key="exec_lambda",
        format_func=format_lambda,
        help="Weight on variance in E + λV, 1/USD; 0 = TWAP, larger = trade sooner.",
    )
    check = check_inputs(side=side, notional_usd=notional, horizon_s=horizon, slices=slices, lam=lam)
    for col, name in zip(cols, ("side", "notional", "horizon", "slices", "lam"), strict=False):
        if name in check.errors:
            col.error(check.errors[name], icon=":material/error:")
    if check.bounds is not None:
        cols[3].caption(f"Valid for this horizon: {check.bounds[0]}–{check.bounds[1]} slices.")
    interval = refresh_control("exec_refresh")
    if not check.ok:
        return

    @st.fragment(run_every=interval)
    def live_view() -> None:
        t0 = time.perf_counter()
        snap = rt.latest()  # one snapshot for everything this refresh shows
        status_line(current_summary(rt, snap))
        if snap is None:
            st.info("Waiting for the first order book…", icon=":material/hourglass_top:")
            return
        try:
            plan = execution_plan(rt, snap, check.inputs)
        except SimulatorError as exc:
            st.warning(str(exc), icon=":material/warning:")
            return
        render(plan)
        rt.record_refresh((time.perf_counter() - t0) * 1e3)

    live_view()


execution_page()
