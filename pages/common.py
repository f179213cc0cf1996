"""Shared by the pages: the one runtime per process, the status line and the refresh-rate control."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.runtime import Runtime, from_environment
from core.views.charts import Prebuilt, prebuilt
from core.views.market import MarketSummary, summarize
from core.views.shared import SharedBuilds, SharedViews

#: on a timed refresh a live chart is rebuilt at most this often; a full run (after any input) rebuilds it at once
CHART_PERIOD_S = 2.0
REFRESH_OPTIONS = {"0.25 s": 0.25, "0.5 s": 0.5, "1 s": 1.0, "2 s": 2.0, "5 s": 5.0, "Paused": None}
# Streamlit colour badges render with the app's own font (emoji need a system emoji font)
STATE_BADGE = {
    "live": "green",
    "streaming": "blue",  # a replay's books arriving: green is for live market data
    "stale": "orange",
    "connecting": "blue",
    "reconnecting": "orange",
    "failed": "red",
    "stopped": "gray",
    "idle": "gray",
}


@st.cache_resource(show_spinner="Starting the market data feed…")
def get_runtime() -> Runtime:
    """The single runtime (feed, store, tracker, models) shared by every session of this process."""
    return from_environment()


@st.cache_resource
def shared_charts() -> SharedBuilds:
    """The Simulator's charts, shared by the sessions of this process that show the same order
    (``core.views.shared``: one session builds them per period, the others take that build)."""
    return SharedBuilds(CHART_PERIOD_S)


@st.cache_resource
def shared_views() -> SharedViews:
    """The Simulator's live view of one order on one book, computed once for the sessions showing it
    (``core.views.shared``)."""
    return SharedViews()


@st.cache_resource
def shared_live_charts() -> SharedBuilds:
    """``live_chart`` figures shared by the sessions of this process that show the same data (its ``shared`` key)."""
    return SharedBuilds(CHART_PERIOD_S)


def refresh_control(key: str) -> float | None:
    """Refresh-rate picker; returns seconds between reruns, or None when paused."""
    choice = st.segmented_control(
        "Refresh every",
        list(REFRESH_OPTIONS),
        default="1 s",
        key=key,
        help="How often this view re-reads the latest order book. Pause to freeze the numbers.",
    )
    return REFRESH_OPTIONS.get(choice or "1 s")


def timed_refresh() -> bool:
    """Whether this run is a fragment's rerun (a timed refresh), not a full run of the page after an input."""
    ctx = get_script_run_ctx()
    return bool(ctx is not None and ctx.fragment_ids_this_run)


def live_chart(
    slot: Any, key: str, build: Callable[[], Any], *, config: dict | None = None, shared: Hashable | None = None
) -> None:
    """Draw the plotly figure (or spec dict) ``build()`` makes into ``slot``, rebuilt on a timed refresh only
    every ``CHART_PERIOD_S``; in between the last figure is sent again, unchanged.

    Why: Streamlit gives a plotly chart a new identity whenever its figure changes, and the browser then
    discards the chart and draws a new one from scratch (Plotly's newPlot), which at a 1 s refresh kept its
    main thread busy most of the time. An unchanged figure keeps its identity, so the browser keeps the chart
    it drew. A full run (any input changed, a page switch) always rebuilds, so an input shows at once. The
    figure is kept as its finished dict (``Prebuilt``), so sending it again costs no validation or copy.
    ``shared``: what the figure shows besides the live data (instrument, quote, ...); sessions passing the
    same ``key`` and ``shared`` take one build per period on timed refreshes (``core.views.shared``)."""
    ss = st.session_state
    name = f"live_chart_{key}"
    cached = ss.get(name)
    now = time.monotonic()
    timed = timed_refresh()
    if cached is None or not timed or now - cached[0] >= CHART_PERIOD_S:
        builds, shared_key = shared_live_charts(), (key, shared)
        entry = builds.fresh_entry(shared_key, now) if shared is not None and timed else None
        if entry is None:
            fig = build()
            cached = (
                now,
                fig if isinstance(fig, Prebuilt) else prebuilt(fig if isinstance(fig, dict) else fig.to_dict()),
            )
            if shared is not None:
                builds.put(shared_key, cached[1], now)
        else:
            cached = entry  # built by a session showing the same data, at most a period (and one build) ago
        ss[name] = cached
    slot.plotly_chart(cached[1], key=key, config=config)


def current_summary(rt: Runtime, snap: Any = None) -> MarketSummary:
    """The status-line values for ``snap`` (pass the snapshot the view renders, so both agree)."""
    return summarize(
        snap if snap is not None else rt.latest(),
        rt.status(),
        rt.replay,
        msgs_per_s=rt.messages_per_second(),
        now_ns=time.time_ns(),
        bus=rt.bus_instruments(),
    )


class NoticeBox:
    """A fixed-height box of messages (the cards below it never move) that scrolls when they overflow: errors and
    warnings go to a slot above the status line, so the message that stops or qualifies the order is the one in
    view, never scrolled below the status line and a replay note."""

    def __init__(self, height_px: int) -> None:
        self.box = st.container(height=height_px, border=False)
        with self.box:
            self.urgent = st.container()  # created first: the top of the box

    def error(self, text: str, **kw: Any) -> None:
        self.urgent.error(text, **kw)

    def warning(self, text: str, **kw: Any) -> None:
        self.urgent.warning(text, **kw)

    def info(self, text: str, **kw: Any) -> None:
        self.box.info(text, **kw)


def status_line(s: MarketSummary) -> None:
    """One line: REPLAY/LIVE badge, connection state, tick age, message rate; a warning when stale."""
    error = get_runtime().config_error
    if error:
        st.error(error, icon=":material/error:")
    badge = f":{s.badge.colour}-badge[{s.badge.value}]"  # LIVE only while fresh live books arrive
    age = "no tick yet" if math.isinf(s.tick_age_s) else f"last tick {s.tick_age_s:.1f} s ago"
    st.markdown(
        f"{badge} **{s.source_detail}** · :{STATE_BADGE.get(s.state_text, 'gray')}-badge[{s.state_text}] · {age} · "
        f"{s.msgs_per_s:.1f} msg/s"
    )
    if s.ingest is not None:  # a bus replica: what the ingest service reports, every instrument's age
        st.caption(f"{s.ingest.counters}  \n{s.ingest.books}")
    if s.stale:
        why = f" ({s.last_error})" if s.last_error else ""
        st.warning(
            f"Market data is stale: showing the last good order book{why}. The feed reconnects by itself.",
            icon=":material/schedule:",
        )


def _leave_pages_directory_mode() -> None:
    """A deep link as the very first request of a process makes Streamlit run that page file in its legacy
    pages-directory mode (app.py and its st.navigation never run: a file-list menu, no wide layout). Switch
    the flag that st.navigation itself clears and rerun, so app.py routes as it always does."""
    try:
        from streamlit.runtime.pages_manager import PagesManager  # internal; absent in other versions
    except ImportError:
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()


_leave_pages_directory_mode()
