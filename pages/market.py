"""Market: where the data comes from, whether it is flowing, and the top of the book."""

import time

import streamlit as st

from core.views.charts import mid_spec
from core.views.documents import doc_link
from core.views.market import book_time, restart_note, top_levels
from pages.common import current_summary, get_runtime, live_chart, refresh_control, status_line

DOC = doc_link()


def market_page() -> None:
    rt = get_runtime()
    st.title("Market")
    interval = refresh_control("market_refresh")

    @st.fragment(run_every=interval)
    def live_view() -> None:
        t0 = time.perf_counter()
        snap = rt.latest()  # one snapshot for everything this refresh shows
        s = current_summary(rt, snap)
        status_line(s)
        if snap is None:
            st.info("Waiting for the first order book…", icon=":material/hourglass_top:")
            return
        inst = rt.instrument(snap.exchange, snap.symbol)
        q = inst.quote
        c1, c2, c3, c4, c5 = st.columns(5)
        c1.metric(
            f"Best bid ({q})",
            f"{s.best_bid:,.2f}",
            help=f"Highest price a buyer is quoting, in quote currency ({DOC} §1).",
        )
        c2.metric(
            f"Best ask ({q})",
            f"{s.best_ask:,.2f}",
            help=f"Lowest price a seller is quoting, in quote currency ({DOC} §1).",
        )
        c3.metric(
            "Spread",
            f"{s.spread:,.2f} {q}",
            f"{s.spread_bps:.2f} bps",
            delta_color="off",
            delta_arrow="off",  # the same spread in bps, not a change: no arrow (walkthrough 18)
            help=f"Best ask minus best bid; in bps of the mid price ({DOC} §1).",
        )
        c4.metric(
            "Levels shown by feed",
            f"{s.levels[0]} / {s.levels[1]}",
            help="Number of bid / ask price levels in the latest book.",
        )
        c5.metric(
            "Book time (UTC)",
            book_time(snap.exchange_ts_ms),
            help="Exchange timestamp of the book on screen (for a replay: the recording's original time).",
        )
        st.subheader(f"Top 10 levels (prices in {q}, sizes in {inst.base})")
        st.dataframe(top_levels(snap, 10), width="stretch", key="market_levels")
        restarts = rt.restarts(snap.exchange, snap.symbol)
        replay = rt.is_replay(snap.exchange, snap.symbol)
        note = restart_note(restarts, time.time(), replay=replay)
        with st.container():
            if note:
                st.info(note, icon=":material/replay:")
        live_chart(
            st,
            "market_mid_chart",
            lambda: mid_spec(*rt.mid_chart(snap.exchange, snap.symbol), restarts, q, replay=replay),
            config={"displaylogo": False},
            shared=(snap.exchange, snap.symbol, tuple(restarts), q, replay),
        )
        rt.record_refresh((time.perf_counter() - t0) * 1e3)

    live_view()


market_page()
