"""The Execution page's plan: its cost metrics, charts, trade list and calibrated parameters, drawn from one plan."""

import streamlit as st

from core.views.execution import (
    CAVEAT,
    ExecutionPlan,
    cost_table,
    frontier_figure,
    holdings_figure,
    pct,
    urgency_details,
)
from core.views.formatting import bps, usd
from pages.common import live_chart


def trade_columns(plan: ExecutionPlan) -> dict:
    u = plan.base_unit
    num = st.column_config.NumberColumn
    return {
        "send at (s)": num(format="%.1f", help="When to send this slice's market order, seconds from now."),
        f"trade ({u})": num(format="%.6f", help=f"Quantity to trade in this slice, {u}."),
        "trade (USD at mid)": num(format="dollar", help="Slice quantity x the current mid, USD."),
        "share of order (%)": num(format="%.2f", help="Slice quantity as a percentage of the whole order."),
        f"remaining after ({u})": num(format="%.6f", help=f"Holdings still to trade after the slice, {u}."),
    }


def render(plan: ExecutionPlan) -> None:
    """Draw one plan (a plain function of the plan)."""
    s, u = plan.schedule, plan.base_unit
    chosen, twap, now = plan.costs
    c = st.columns(4)
    c[0].metric(
        "Order size",
        f"{plan.base_qty:,.6g} {u}",
        f"{usd(plan.notional_usd)} at mid",
        "off",
        delta_arrow="off",
        help="The USD notional walked on the current book, in base units.",
    )
    for col, label, cost, why in (
        (
            c[1],
            "This schedule, fees included",
            chosen,
            "Expected book cost of the slices (Almgren–Chriss, [Methodology](/docs?doc=methodology) 6.6) plus the "
            "taker fee on the notional, USD; bps and % of the order's value at the current mid.",
        ),
        (c[2], "Even slices (TWAP)", twap, "The same slices of equal size (λ = 0), plus the same taker fee."),
        (c[3], "One market order now", now, "The whole order walked on the current book at once, plus the same fee."),
    ):
        col.metric(
            label,
            usd(cost.total_usd),
            f"{bps(cost.total_bps)} · {pct(cost.total_bps)}",
            "off",
            delta_arrow="off",
            help=why,
        )
    st.dataframe(cost_table(plan), hide_index=True, key="exec_costs")
    with st.expander("Urgency and risk aversion λ"):
        st.markdown(urgency_details(plan))
    law = plan.sqrt_law
    st.caption(
        f"Fees are the same for every way ({usd(plan.fee_usd)}): taker rate × notional. "
        + (
            f"Square-root law (cross-check of scale, not the model): {law.low_bps:,.2f}–{law.high_bps:,.2f} bps "
            f"of book cost. {law.how}."
            if law is not None
            else "No daily volume is known for this instrument, so no square-root-law cross-check."
        )
    )
    for note in plan.notes:
        st.warning(note, icon=":material/warning:")
    left, right = st.columns(2)
    live_chart(left, "exec_holdings", lambda: holdings_figure(plan))
    live_chart(right, "exec_frontier", lambda: frontier_figure(plan))
    st.subheader("Trade list")
    st.dataframe(plan.trades, hide_index=True, key="exec_trades", column_config=trade_columns(plan))
    st.subheader("Calibrated parameters")
    st.caption(CAVEAT)
    st.table(plan.params, hide_index=True)
    st.caption(f"Half-life 1/κ: {'∞ (even slices)' if s.kappa == 0 else f'{s.half_life:,.1f} s'}.")
