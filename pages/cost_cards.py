"""The Simulator's results, drawn from a ``core.views.simulator.SimulatorView`` and ``core.views.preview``:
the cost cards first, then the order's own figures, the venue's rules, the app's processing time in a strip
of its own, and the charts (built by the caller, shared with the sessions showing the same order)."""

import streamlit as st

from core.views import preview
from core.views import simulator as sim
from core.views.formatting import markdown_table
from pages.common import CHART_PERIOD_S, shared_views

PLOTLY = {"displaylogo": False}


def cards(row: tuple[preview.Card, ...]) -> None:
    """One row of metric cards: unit in the value, a grey (not good/bad) second figure, a tooltip in words."""
    for col, c in zip(st.columns(len(row), border=True), row, strict=True):
        col.metric(c.label, c.value, c.delta, "off", delta_arrow="off", delta_description=c.note, help=c.help)


def render(
    view: sim.SimulatorView, inst, sizing, *, stale: bool, age_s: float, paused: bool, notices, charts, held: bool
) -> None:
    """Draw the view; messages go into ``notices`` (a fixed-height container), so nothing below moves.
    ``charts``: called when the charts are drawn, after the cards; gives ``core.views.charts.simulator_figures``
    (of this view, a recent one, or with ``held`` the previous order's, kept until the next refresh)."""
    e = view.estimate
    if e is None:
        notices.error(view.error or "This order cannot be priced on the current book.", icon=":material/error:")
        return
    if view.depth_warning:
        notices.warning(view.depth_warning, icon=":material/warning:")
    cards(preview.cost_cards(e))
    cards(preview.order_cards(view, sizing, inst))
    book = f"book received {age_s:.1f} s ago" + (" — :orange-badge[STALE] last good book" if stale else "")
    st.caption(f"{preview.fill_sentence(e, inst)}; {book}")
    st.caption(preview.rules_sentence(sizing, inst))
    st.caption(f":material/memory: {preview.system_strip(view.latency)}")
    with st.expander("How each number was computed"):
        st.dataframe(view.methods, hide_index=True, width="stretch", key="sim_methods")
    charts = charts()
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
    with st.expander("Cost breakdown table"):
        st.markdown(shared_views().derived(view, "breakdown", lambda: markdown_table(preview.breakdown_rows(view))))
