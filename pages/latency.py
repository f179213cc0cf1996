"""Latency: processing time per tick, feed delay, page refresh time and message rate."""

import time

import streamlit as st

from core.views.latency import LatencyView, histogram_figure, latency_view, path_note, rate_figure
from pages.common import current_summary, get_runtime, live_chart, refresh_control, status_line

_PCT_HELP = "{} of the samples in the store's ring (last 10,000 ticks), in the row's unit."
COLUMNS = {
    "measure": st.column_config.TextColumn("measure", help="What was timed; see the charts' notes."),
    "unit": st.column_config.TextColumn("unit", help="µs = microseconds, ms = milliseconds."),
    "samples": st.column_config.NumberColumn("samples", help="Samples in the ring since the feed (re)started."),
    **{
        c: st.column_config.NumberColumn(c, format="%.1f", help=_PCT_HELP.format(f"{c[1:]}th percentile"))
        for c in ("p50", "p90", "p99")
    },
    "max": st.column_config.NumberColumn("max", format="%.1f", help=_PCT_HELP.format("Largest")),
}


def render(view: LatencyView) -> None:
    """Draw one view: table, three histograms, message rate (a plain function of the view)."""
    st.dataframe(view.table, hide_index=True, column_config=COLUMNS, key="latency_table")
    per_tick = [view.measure(k) for k in ("parse_us", "book_us", "tick_cost_us")]
    live_chart(
        st,
        "latency_processing",
        lambda: histogram_figure(per_tick, title="Per-tick processing time: parse, book update, pricing (µs)"),
    )
    left, right = st.columns(2)
    delay = view.measure("feed_delay_ms")
    live_chart(left, "latency_delay", lambda: histogram_figure([delay], title=f"{delay.name} (ms)"))
    left.caption(view.delay_note)
    live_chart(
        right,
        "latency_refresh_hist",
        lambda: histogram_figure([view.measure("refresh_ms")], title="Page refresh time (ms)"),
    )
    right.caption("Server side, per live-view rerun of a page (Market, Simulator, Latency, Execution).")
    live_chart(st, "latency_rate", lambda: rate_figure(view))


def latency_page() -> None:
    rt = get_runtime()
    st.title("Latency")
    st.caption(
        "Processing time of each tick (perf_counter), how late data arrives, and how long a page "
        "refresh takes. Pricing per tick is the feed thread pricing the orders open Simulator pages show on each "
        "new book; the explained estimate is timed on each Simulator refresh. " + path_note()
    )
    interval = refresh_control("latency_refresh")

    @st.fragment(run_every=interval)
    def live_view() -> None:
        t0 = time.perf_counter()
        status_line(current_summary(rt))
        replay = rt.replay
        view = latency_view(
            rt.tick_timings(),
            rt.message_rate(),
            replay_speed=replay.speed if replay is not None else None,
        )
        render(view)
        rt.record_refresh((time.perf_counter() - t0) * 1e3)

    live_view()


latency_page()
