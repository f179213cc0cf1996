"""The Simulator's metric cards and charts, drawn from a ``core.views.simulator.SimulatorView``."""

import streamlit as st

from core.views import simulator as sim
from core.views.charts import breakdown_figure, curve_figure, depth_figure, ticks_figure
from core.views.formatting import base_amount, bps, microseconds, usd
from pages.order_form import DOCS

HELP = {  # one sentence per number: how it is computed, and where it is defined
    "Expected slippage": "What your fills should show against the arrival mid (the mid when the order reaches the "
    "book): the whole book-walk cost (or the slippage model's prediction of it), market impact included; p90 from the "
    f"quantile model when loaded. See {DOCS} §2.",
    "Expected fees": f"Notional × (maker share × maker rate + taker share × taker rate); negative is a rebate. "
    f"See {DOCS} §4.",
    "Market impact (in slippage)": "The part of the slippage this order causes and that persists: Almgren–Chriss ½·γ·X², "
    "γ = ψ/ρ with the permanent share ψ calibrated from mid markouts after real taker orders (data/impact.json), "
    f"capped at the cost beyond the touch. Already inside slippage: not added again. See {DOCS} §2 and §6.4.",
    "Net cost": "Slippage + fees (+ a limit order's expected adverse selection and opportunity cost); impact is inside "
    f"slippage, so nothing is counted twice. bps are of the executed notional. See {DOCS} §2.",
    "Maker / taker": "Share of the notional expected to fill as maker / as taker: 0 % / 100 % for a market order, from "
    f"the maker/taker model for a limit order. See {DOCS} §7.",
    "Internal latency (last tick)": "This app's own time for the latest tick: parse + book update + publish, plus "
    "pricing this order on that book on the feed thread (perf_counter); network time is not included.",
    "Internal latency p50": "Median feed processing per tick plus the median time to price this order on a tick (the "
    "two percentiles added).",
    "Internal latency p99": "99th percentile of feed processing per tick plus that of pricing this order on a tick "
    "(added, so it never flatters).",
}


def card(col, label: str, value: str, delta: str, note: str | None = None) -> None:
    """A metric with its unit in the value, a grey (not good/bad) second figure and its tooltip."""
    col.metric(label, value, delta, "off", delta_arrow="off", delta_description=note, help=HELP[label])


def render(view: sim.SimulatorView, inst, stale: bool, age_s: float, notices) -> None:
    """Draw the view; messages go into ``notices`` (a fixed container), so the charts below keep their place."""
    e = view.estimate
    if e is None:
        notices.error(view.error or "This order cannot be priced on the current book.", icon=":material/error:")
        return
    if view.depth_warning:
        notices.warning(view.depth_warning, icon=":material/warning:")
    p90 = ("p90 " + usd(e.slippage_p90_usd)) if e.slippage_p90_usd is not None else "no p90 band"
    lat = view.latency
    row1 = st.columns(4, border=True)
    card(row1[0], "Expected slippage", usd(e.slippage_usd), bps(e.slippage_bps), p90)
    card(row1[1], "Expected fees", usd(e.fee_usd), bps(e.fee_bps), e.fee_tier)
    card(
        row1[2], "Market impact (in slippage)", usd(e.impact_usd), bps(e.impact_bps), "permanent, included in slippage"
    )
    card(row1[3], "Net cost", usd(e.net_cost_usd), bps(e.net_cost_bps), f"of {usd(e.filled_usd)}")
    row2 = st.columns(4, border=True)
    card(row2[0], "Maker / taker", f"{e.maker_fraction:.0%} / {1 - e.maker_fraction:.0%}", e.order_type.value)
    us = microseconds
    parts = f"feed {us(lat.feed_last_us)} + cost {us(lat.cost_last_us)}"
    card(row2[1], "Internal latency (last tick)", us(lat.last_us), parts)
    card(row2[2], "Internal latency p50", us(lat.p50_us), f"{lat.ticks:,} ticks")
    card(row2[3], "Internal latency p99", us(lat.p99_us), f"{lat.ticks:,} ticks")
    book = f"book received {age_s:.1f} s ago" + (" — :orange-badge[STALE] last good book" if stale else "")
    if e.limit_price is not None:
        rest = (
            f"{usd(e.crossed_usd)} crossed as taker at expiry" if e.crossed_usd > 0 else "the rest cancelled at expiry"
        )
        avg = f"average {e.avg_price:,.2f} {inst.quote}" if e.filled_base > 0 else "nothing filled"
        what = (
            f"Limit {e.side.value} {usd(e.size)} resting at {e.limit_price:,.2f} {inst.quote}: "
            f"{usd(e.maker_filled_usd)} expected to fill as maker, {rest}; {avg}"
        )
    else:
        what = (
            f"{e.side.value.capitalize()} {usd(e.size)} → {base_amount(e.filled_base, inst.base)} at "
            f"average {e.avg_price:,.2f} {inst.quote} over {e.levels_used} level(s)"
        )
    st.caption(
        f"{what}; mid {e.mid:,.2f}, spread {bps(e.spread_bps)}; volatility {e.volatility_annual:.1%} a year "
        f"({e.volatility_source.value}); {book}"
    )
    with st.expander("How each number was computed"):
        st.dataframe(view.methods, hide_index=True, width="stretch", key="sim_methods")
    c1, c2 = st.columns(2)
    c1.plotly_chart(breakdown_figure(view), key="sim_breakdown_chart", config={"displaylogo": False})
    c2.plotly_chart(depth_figure(view, inst.base, inst.quote), key="sim_depth_chart", config={"displaylogo": False})
    st.plotly_chart(ticks_figure(view), key="sim_ticks_chart", config={"displaylogo": False})
    st.plotly_chart(curve_figure(view), key="sim_curve_chart", config={"displaylogo": False})
    with st.expander("Cost breakdown table"):
        st.dataframe(
            view.breakdown,
            hide_index=True,
            width="stretch",
            key="sim_breakdown_table",
            column_config={
                "USD": st.column_config.NumberColumn("USD", format="$%.6f"),
                "bps": st.column_config.NumberColumn("bps of notional", format="%.4f"),
            },
        )
