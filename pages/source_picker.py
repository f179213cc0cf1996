"""The Simulator's data-source widgets, and the session state that keeps them on what the shared feed runs.

One feed serves every session, so the widgets show what it streams (``core.views.source_choice``), and a
change a visitor makes switches it for everyone. A switch is requested by the widgets' ``on_change`` and
carried out at the top of the next full run, before the widgets are drawn. Streamlit also fires
``on_change`` during any fragment's timed rerun (the live view's or the sidebar status line's) when the
browser sends a widget value from before the last full run (the source widgets are re-pointed by this code,
so the browser's copy lags a moment): such a request is stale by construction, because a visitor's own
change reruns the whole page. ``_request_switch`` therefore ignores it and only asks the next full run to
re-point the widgets at what the feed runs; acting on it would switch the shared feed back to what this
session showed before.
"""

import math

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.errors import SimulatorError
from core.runtime import Runtime
from core.views import source_choice as choice
from core.views.market import EXCHANGE_LABELS
from core.views.simulator import preferred_symbol
from pages.common import STATE_BADGE

KEYS = ("sim_source", "sim_exchange", "sim_symbol")


def _in_fragment_run() -> bool:
    ctx = get_script_run_ctx(suppress_warning=True)
    return bool(ctx is not None and ctx.fragment_ids_this_run)


def _request_switch() -> None:
    if _in_fragment_run():  # the browser's stale copy of a widget this code re-pointed (module docstring)
        st.session_state["sim_feed_shown"] = None
        return
    st.session_state["sim_switch"] = True


def _request_custom() -> None:
    st.session_state["sim_custom"] = True


def _switch(rt: Runtime) -> None:
    """Start the feed on the source/instrument the user just picked; on refusal keep the old one, say why."""
    ss = st.session_state
    ss["sim_switch"] = False
    if ss.get("sim_source") not in choice.SOURCES:  # no choice left to act on (the widget's state is gone)
        return
    try:
        if choice.switch(rt, ss["sim_source"], ss.get("sim_exchange"), ss.get("sim_symbol")):
            ss["sim_feed_error"] = ""
    except SimulatorError as exc:
        ss["sim_feed_error"] = str(exc)
        ss["sim_feed_shown"] = None  # show what is still running, not the refused choice


def _connect_custom(rt: Runtime) -> None:
    ss = st.session_state
    ss["sim_custom"] = False
    try:
        choice.connect_custom(rt, str(ss.get("sim_custom_url", "")))
        ss["sim_feed_error"] = ""
    except SimulatorError as exc:
        ss["sim_feed_error"] = str(exc)
    ss["sim_feed_shown"] = None


def follow_feed(rt: Runtime) -> None:
    """Act on a pending switch or custom URL, then point the source widgets at what the feed runs (before
    they are drawn)."""
    ss = st.session_state
    if ss.get("sim_switch"):
        _switch(rt)
    if ss.get("sim_custom"):
        _connect_custom(rt)
    running = choice.running(rt)
    if ss.get("sim_feed_shown") != running or any(k not in ss for k in KEYS):
        ss["sim_source"], ss["sim_exchange"], ss["sim_symbol"] = running
        ss["sim_feed_shown"] = running


def source_status(rt: Runtime, interval: float | None) -> None:
    @st.fragment(run_every=interval)
    def status() -> None:
        s = rt.status()
        age = "no data yet" if math.isinf(s.last_message_age_s) else f"last message {s.last_message_age_s:.1f} s ago"
        st.caption(f":{STATE_BADGE.get(s.state.value, 'gray')}-badge[{s.state.value}] · {age}")

    status()


def source_inputs(rt: Runtime, interval: float | None) -> tuple[str, str]:
    """The source, exchange and instrument widgets; returns the (exchange, symbol) they show."""
    ss = st.session_state
    locked = choice.switching_locked(rt)
    st.selectbox(
        "Data source",
        list(choice.SOURCES),
        format_func=choice.source_label,
        key="sim_source",
        on_change=_request_switch,
        disabled=locked,
        help="Replay streams a bundled real recording over a local WebSocket; the live sources connect "
        "to GoQuant or OKX. One feed serves every session of this app.",
    )
    source_status(rt, interval)
    if locked:
        st.caption("The operator fixed the data source of this deployment.")
    elif choice.custom_url_allowed(rt):
        with st.expander("Custom feed URL"):
            st.text_input(
                "GoQuant-format WebSocket URL",
                key="sim_custom_url",
                placeholder="wss://host/ws/l2-orderbook/okx/BTC-USDT-SWAP",
                help="Any server that speaks the GoQuant full-snapshot format, on a host this "
                "deployment allows (TCS_ALLOWED_HOSTS). The path names the exchange and instrument.",
            )
            st.button("Connect", key="sim_custom_connect", on_click=_request_custom)
    if ss["sim_feed_error"]:
        st.error(ss["sim_feed_error"], icon=":material/error:")
    offered = choice.offered(rt, ss["sim_source"])
    if ss.get("sim_exchange") not in offered:
        ss["sim_exchange"] = next(iter(offered))
    st.selectbox(
        "Exchange",
        list(offered),
        key="sim_exchange",
        on_change=_request_switch,
        disabled=locked,
        format_func=lambda e: EXCHANGE_LABELS.get(e, e),
    )
    symbols = offered[ss["sim_exchange"]]
    if ss.get("sim_symbol") not in symbols:
        ss["sim_symbol"] = preferred_symbol(symbols)
    labels = choice.instrument_labels(rt, ss["sim_exchange"], symbols)
    st.selectbox(
        "Instrument",
        symbols,
        key="sim_symbol",
        on_change=_request_switch,
        disabled=locked,
        format_func=labels.__getitem__,
        help="Replay offers the bundled recordings' instruments; choosing one switches the recording.",
    )
    return ss["sim_exchange"], ss["sim_symbol"]
