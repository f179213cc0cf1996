"""The Simulator's cost inputs: fee tier (or override rates), volatility (or override) and latency."""

import streamlit as st

from core.views import inputs as vi
from core.views import simulator as sim
from core.views.fee_choice import fee_choices, rates_text
from core.views.market import EXCHANGE_LABELS
from pages.order_form import DOCS, PERSIST


def cost_inputs(exchange, market, snap, mids, slots: dict) -> None:
    ss = st.session_state
    choices = fee_choices(exchange, market)
    by_key = {c.key: c for c in choices}
    if choices:
        if ss.get("sim_fee_tier") not in by_key:
            ss["sim_fee_tier"] = choices[0].key
        st.selectbox(
            "Fee tier",
            list(by_key),
            key="sim_fee_tier",
            format_func=lambda k: by_key[k].label,
            help=f"Published {EXCHANGE_LABELS.get(exchange, exchange)} {market} fee tiers (your tier depends on "
            f"your 30-day volume); each rate is a percentage of the amount traded ({DOCS}).",
        )
        choice = by_key[ss["sim_fee_tier"]]
        bnb = False
        if choice.bnb_available:
            bnb = st.checkbox(
                f"Pay fees in BNB (-{choice.tier.bnb_discount:.0%})",
                key="sim_fee_bnb",
                persist_state=PERSIST,
                help=choice.bnb_help,
            )
        tier = choice.priced(bnb)
        st.caption(
            f"{rates_text(tier)}. Source: {tier.source or tier.table}" + (f" ({tier.as_of})" if tier.as_of else "")
        )
        if choice.assumption_note:
            st.warning(choice.assumption_note, icon=":material/warning:")
    else:
        tier = None
        st.caption(f"No published fee table for {exchange} {market}: enter the rates below.")
    slots[vi.FEE_TIER] = st.empty()
    with st.expander("Fee rates (bps)", expanded=ss.get("sim_fee_override", False) or tier is None):
        override = st.checkbox("Override the rates", key="sim_fee_override", persist_state=PERSIST)
        if not override and tier is not None:  # show the tier's own rates
            ss["sim_maker_bps"], ss["sim_taker_bps"] = tier.maker_bps, tier.taker_bps
        for key, label, field in (
            ("sim_maker_bps", "Maker rate (bps)", vi.MAKER_RATE),
            ("sim_taker_bps", "Taker rate (bps)", vi.TAKER_RATE),
        ):
            value = st.number_input(
                label,
                key=key,
                value=None,  # an emptied box is None (a message), never a silent 0
                step=0.5,
                format="%.2f",
                disabled=not override,
                persist_state=PERSIST,
                help="1 bps = 0.01 % of the notional; negative = rebate.",
            )
            if value is not None:
                st.caption(f"= {value / 100:.3f} % of the notional")
            slots[field] = st.empty()

    auto = sim.feed_volatility(mids, snap.mid if snap else None)
    vol_override = st.checkbox(
        "Override volatility",
        key="sim_vol_override",
        persist_state=PERSIST,
        help="By default the volatility is measured from the feed's recent prices; the figure in use is shown under "
        f"the results ({DOCS}).",
    )
    if not vol_override:  # pre-fill the box with the feed's figure of this moment, for when it is ticked
        ss["sim_vol_pct"] = round(auto.annual * 100, 1)
    else:
        st.number_input(
            "Volatility (% a year)",
            key="sim_vol_pct",
            value=None,
            step=5.0,
            format="%.1f",
            persist_state=PERSIST,
        )
    slots[vi.VOLATILITY] = st.empty()
    st.number_input(
        "Delay to reach the exchange (ms)",
        key="sim_latency_ms",
        value=None,
        step=10.0,
        format="%.0f",
        persist_state=PERSIST,
        help="Time from your decision to the order reaching the exchange (your network and systems). The slippage "
        "model, when loaded, adds the price move expected over this delay (trained for 0-1000 ms); the book walk "
        "prices the book as it is now.",
    )
    slots[vi.LATENCY] = st.empty()
