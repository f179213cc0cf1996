"""The Simulator's order inputs (side, type, limit settings, quantity) and the raw values they hold.

Inputs persist across page switches; validation is ``core.views.inputs.parse_inputs``, and each message is
drawn into the slot (``st.empty``) placed under its widget here.
"""

import streamlit as st

from core.views import inputs as vi
from core.views.documents import doc_link
from core.views.formatting import usd

DOCS = doc_link()  # a link to the Docs page (docs/METHODOLOGY.md)
PERSIST = "session"  # inputs survive page switches


def order_inputs(loaded, slots: dict) -> None:
    ss = st.session_state
    st.segmented_control(
        "Side",
        ["buy", "sell"],
        key="sim_side",
        format_func=str.capitalize,
        required=True,
        persist_state=PERSIST,
        help="Buy walks the asks upward; sell walks the bids downward.",
    )
    slots[vi.SIDE] = st.empty()
    limit_ok = loaded.models.maker_taker is not None
    if not limit_ok:
        ss["sim_order_type"] = "market"
    st.radio(
        "Order type",
        ["market", "limit"],
        key="sim_order_type",
        format_func=str.capitalize,
        horizontal=True,
        disabled=not limit_ok,
        persist_state=PERSIST,
        help="Market: crosses the spread now, 100 % taker. Limit: rests behind the touch; the maker/taker "
        f"model gives the share filled as maker within the horizon ({DOCS} §7).",
    )
    if not limit_ok:
        st.caption(f"Limit orders are off: {loaded.fallbacks.get('maker_taker', 'no maker/taker model')}")
    slots[vi.ORDER_TYPE] = st.empty()
    if ss["sim_order_type"] == "limit":
        st.number_input(
            "Limit offset behind the touch (bps)",
            key="sim_offset_bps",
            step=0.5,
            format="%.2f",
            persist_state=PERSIST,
            help="0 = join the best bid (buy) or best ask (sell).",
        )
        slots[vi.OFFSET] = st.empty()
        st.number_input(
            "Horizon (s)",
            key="sim_horizon_s",
            step=5.0,
            format="%.1f",
            persist_state=PERSIST,
            help="How long the order rests before the at-expiry action.",
        )
        slots[vi.HORIZON] = st.empty()
        st.radio(
            "At expiry",
            list(vi.EXPIRY_LABELS),
            key="sim_at_expiry",
            persist_state=PERSIST,
            format_func=vi.EXPIRY_LABELS.__getitem__,
            help="What happens to the part not filled as maker within the horizon.",
        )
        slots[vi.AT_EXPIRY] = st.empty()
    st.number_input(
        "Quantity (USD)",
        key="sim_qty_usd",
        step=100.0,
        format="%.2f",
        persist_state=PERSIST,
        help=f"Order notional in USD (USDT counted 1:1), at most {usd(vi.MAX_NOTIONAL_USD)}.",
    )
    slots[vi.QUANTITY] = st.empty()
    slots["quantity_base"] = st.empty()


def raw_inputs() -> vi.RawInputs:
    ss = st.session_state
    return vi.RawInputs(
        side=ss.get("sim_side"),
        order_type=ss.get("sim_order_type"),
        quantity_usd=ss.get("sim_qty_usd"),
        offset_bps=ss.get("sim_offset_bps"),
        horizon_s=ss.get("sim_horizon_s"),
        at_expiry=ss.get("sim_at_expiry"),
        fee_key=ss.get("sim_fee_tier"),
        override_fees=bool(ss.get("sim_fee_override")),
        bnb_discount=bool(ss.get("sim_fee_bnb")),
        maker_bps=ss.get("sim_maker_bps"),
        taker_bps=ss.get("sim_taker_bps"),
        override_volatility=bool(ss.get("sim_vol_override")),
        volatility_pct=ss.get("sim_vol_pct"),
        latency_ms=ss.get("sim_latency_ms"),
    )
