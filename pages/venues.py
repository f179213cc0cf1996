"""Venues: the same order priced on every venue's newest book at once, ranked by net cost.

The inputs live outside the fragment (so they never reset on refresh); the fragment calls
``core.views.venues.venues_view`` on the latest books and renders the ranking and the verdict in words.
"""

import time

import streamlit as st

from core.views import venues as vv
from core.views.documents import doc_link
from pages.common import current_summary, get_runtime, refresh_control, status_line

DOC = doc_link()
NUMBER_FORMATS = {
    "net cost (USD)": "$%.4f",
    "net cost (bps)": "%.3f bps",
    "slippage (USD)": "$%.4f",
    "market impact (USD)": "$%.4f",
    "fee (USD)": "$%.4f",
    "taker fee (bps)": "%.2f bps",
    "average price (quote)": "%.2f",
    "book age (s)": "%.2f s",
}


def order_inputs(options: vv.VenueChoices) -> vv.VenueOrder:
    """The sidebar: asset, side, size and unit, and one fee tier per venue."""
    with st.sidebar:
        st.header("Order")
        asset = st.selectbox("Base asset", options.assets, key="venues_asset", help="Only venues of this asset.")
        side = st.segmented_control("Side", ["buy", "sell"], default="buy", key="venues_side")
        unit = st.radio(
            "Size in", ["usd", "base"], format_func=lambda u: "USD" if u == "usd" else asset, key="venues_unit"
        )
        if unit == "usd":
            size = st.number_input("Order size (USD)", min_value=None, value=10_000.0, step=1_000.0, key="venues_usd")
        else:
            size = st.number_input(
                f"Order size ({asset})", min_value=None, value=0.1, step=0.01, format="%.6f", key=f"venues_base_{asset}"
            )
        st.caption("Market order: every venue is priced as taker.")
        st.header("Fee tier per venue")
        keys = {}
        for group, (label, tiers) in options.fees.get(asset, {}).items():
            if not tiers:
                continue
            by_key = {c.key: c for c in tiers}
            keys[group] = st.selectbox(
                label,
                list(by_key),
                format_func=lambda k, by_key=by_key: f"{by_key[k].label}: {by_key[k].rates}",
                key=f"venues_fee_{group}",
            )
    return vv.VenueOrder(asset=asset or "BTC", side=side, size=size, unit=unit or "usd", fee_keys=keys)


def venues_page() -> None:
    rt = get_runtime()
    st.title("Venues")
    interval = refresh_control("venues_refresh")
    options = vv.choices(rt)
    if not options.assets:
        st.info("Waiting for the venues' first order books…", icon=":material/hourglass_top:")
        return
    raw = order_inputs(options)

    @st.fragment(run_every=interval)
    def live_view() -> None:
        t0 = time.perf_counter()
        status_line(current_summary(rt))
        view = vv.venues_view(rt, raw)
        st.caption(view.source)
        if view.error:
            st.error(view.error, icon=":material/error:")
            return
        if view.best:
            st.success(view.best, icon=":material/trophy:")
        if view.saving:
            st.info(view.saving, icon=":material/savings:")
        if not view.best:
            st.warning("No venue can be compared yet (see each venue's status below).", icon=":material/schedule:")
        st.dataframe(
            view.table,
            hide_index=True,
            width="stretch",
            key="venues_ranking",
            column_config={c: st.column_config.NumberColumn(c, format=f) for c, f in NUMBER_FORMATS.items()},
        )
        for note in view.notes:
            st.caption(f"{note} See {DOC}.")
        rt.record_refresh((time.perf_counter() - t0) * 1e3)

    live_view()


venues_page()
