"""The Simulator's results, drawn from a ``core.views.simulator.SimulatorView`` and ``core.views.preview``:
the cost cards first, then the order's own figures, the venue's rules, the app's processing time on a line
of its own, and the charts (built by the caller, shared with the sessions showing the same order)."""

import streamlit as st

from core.views import preview
from core.views import simulator as sim
from core.views.formatting import markdown_rows
from pages.common import CHART_PERIOD_S, shared_views

PLOTLY = {"displaylogo": False}
#: the sentences under the cards share one caption, a line each (a Markdown line break)
CAPTION_BREAK = "  \n"
TABLES = "Cost breakdown and how each number was computed"


def render(
    view: sim.SimulatorView,
    inst,
    sizing,
    *,
    stale: bool,
    age_s: float,
    paused: bool,
    notices,
    charts,
    held: bool,
    deferred: bool = False,
) -> None:
    """Draw the view; messages go into ``notices`` (a fixed-height container), so nothing below moves.
    ``charts``: called when the charts are drawn, after the cards; gives ``core.views.charts.simulator_figures``
    (of this view, a recent one, or with ``held`` the previous order's, kept until the next refresh).
    ``deferred``: a session's first run draws no chart (the next refresh does, ``pages/simulator.py`` says why).

    Every timed refresh sends each element again, and each costs the server a wake-up of its event loop (the
    Simulator's limit per process, benchmarks/ANALYSIS.md), so the cards are one block, the sentences one
    caption and the two tables one Markdown text made once per shared view."""
    e = view.estimate
    if e is None:
        notices.error(view.error or "This order cannot be priced on the current book.", icon=":material/error:")
        return
    if view.depth_warning:
        notices.warning(view.depth_warning, icon=":material/warning:")
    st.markdown(
        preview.cards_html((preview.cost_cards(e), preview.order_cards(view, sizing, inst))), unsafe_allow_html=True
    )
    book = f"book received {age_s:.1f} s ago" + (" — :orange-badge[STALE] last good book" if stale else "")
    sentences = (
        f"{preview.fill_sentence(e, inst)}; {book}",
        preview.rules_sentence(sizing, inst),
        f":material/memory: {preview.system_strip(view.latency)}",
    )
    st.caption(CAPTION_BREAK.join(sentences))
    with st.expander(TABLES):  # both tables in one: two elements a refresh, not four
        st.markdown(shared_views().derived(view, "tables", lambda: tables(view)))
    if deferred:
        st.caption(":material/hourglass_top: The charts arrive with the next refresh, in a second or so.")
    else:
        _charts(view, charts(), paused=paused, held=held)


def tables(view: sim.SimulatorView) -> str:
    """The cost breakdown and the methods behind each number, as Markdown (made once per shared view)."""
    return (
        f"**Cost breakdown**\n\n{markdown_rows(preview.BREAKDOWN_SHOWN, preview.breakdown_cells(view))}\n\n"
        f"**How each number was computed**\n\n{markdown_rows(sim.METHOD_COLUMNS, view.methods)}"
    )


def _charts(view: sim.SimulatorView, charts: dict, *, paused: bool, held: bool) -> None:
    if held:  # the same slot always holds a caption: the charts below keep their place and their identity
        st.caption(
            ":material/hourglass_top: The charts below still show the previous order; the next refresh redraws them."
        )
    else:
        st.caption(f"The charts redraw every {CHART_PERIOD_S:g} s at most; the figures above, on every refresh.")
    c1, c2 = st.columns(2)
    c1.plotly_chart(charts["breakdown"], key="sim_breakdown_chart", config=PLOTLY)
    c2.plotly_chart(charts["depth"], key="sim_depth_chart", config=PLOTLY)
    if paused and (view.ticks is None or view.ticks.empty):
        st.info(
            "Refresh is paused: this order is charted on every new book while the page refreshes. Pick a refresh "
            "rate at the bottom of the sidebar to resume.",
            icon=":material/pause_circle:",
        )
    else:
        st.plotly_chart(charts["ticks"], key="sim_ticks_chart", config=PLOTLY)
    st.plotly_chart(charts["curve"], key="sim_curve_chart", config=PLOTLY)
