"""The Simulator's data-source widgets, and the session state that keeps them on what the shared feed runs.

One feed serves every session, so the widgets show what it streams (``core.views.source_choice``), and a
change a visitor makes switches it for everyone, at once, in the widget's ``on_change``. When the feed changes
(here or in another session) the next full run points the widgets at it under new keys: one generation of
widgets per feed. Why: the browser keeps its copy of a widget's value for a moment after the server changed
it, and any message it sends meanwhile (a fragment's timed rerun, or a click that races one) carries the old
value; under the old key that value can only reach an old generation's callback, which ignores it. A visitor's
real change always comes from the widgets on screen, the current generation, whatever kind of run (full or
fragment) delivers it.
"""

import time

import streamlit as st

from core.errors import SimulatorError
from core.runtime import Runtime
from core.views import source_choice as choice
from core.views.market import EXCHANGE_LABELS
from core.views.simulator import preferred_symbol

FIELDS = ("source", "exchange", "symbol")


def widget_key(field: str, generation: int) -> str:
    """The key of a source widget of one generation (tests find the widgets by label, not by key)."""
    return f"sim_{field}#{generation}"


def _shown(running: tuple[str, str, str]) -> None:
    """Point the widgets at ``running``: a new generation of keys, seeded with what the feed streams."""
    ss = st.session_state
    generation = ss.get("sim_feed_gen", 0) + 1
    ss["sim_feed_gen"] = generation
    ss["sim_feed_shown"] = running
    for field, value in zip(FIELDS, running, strict=True):
        ss[f"sim_{field}"] = value
        ss[widget_key(field, generation)] = value


def _picked(rt: Runtime, generation: int) -> None:
    """A visitor changed a source widget: switch the shared feed now (refused: keep the old one, say why)."""
    ss = st.session_state
    if generation != ss.get("sim_feed_gen"):  # an old generation's widget: the browser's stale copy (docstring)
        return
    source, exchange, symbol = (ss.get(widget_key(f, generation)) for f in FIELDS)
    if source not in choice.SOURCES:
        return
    try:
        if choice.switch(rt, str(source), exchange, symbol):
            ss["sim_feed_error"] = ""
    except SimulatorError as exc:
        ss["sim_feed_error"] = str(exc)
    _shown(choice.running(rt))  # what runs now, whether the switch happened or was refused


def _connect_custom(rt: Runtime) -> None:
    ss = st.session_state
    try:
        choice.connect_custom(rt, str(ss.get("sim_custom_url", "")))
        ss["sim_feed_error"] = ""
    except SimulatorError as exc:
        ss["sim_feed_error"] = str(exc)
    _shown(choice.running(rt))


def follow_feed(rt: Runtime) -> None:
    """Point the source widgets at what the feed runs when it changed since this session last drew them."""
    ss = st.session_state
    running = choice.running(rt)
    if ss.get("sim_feed_shown") != running or "sim_feed_gen" not in ss:
        before = ss.get("sim_feed_shown")
        if before is not None and before != running:  # changed elsewhere: this session's own change is shown at once
            ss["sim_feed_switched"] = (choice.switched_note(before, running), time.monotonic())
        _shown(running)


def switched_elsewhere() -> str | None:
    """The note for a switch of the shared feed made in another session, for ``SWITCH_NOTICE_S`` after it."""
    seen = st.session_state.get("sim_feed_switched")
    if seen is None or time.monotonic() - seen[1] > choice.SWITCH_NOTICE_S:
        return None
    return seen[0]


def needs_full_run(rt: Runtime) -> bool:
    """The sidebar is out of date: the feed changed since this session drew it, or a callback in a fragment
    run started a new generation of widgets that no full run has drawn yet."""
    ss = st.session_state
    return ss.get("sim_feed_gen") != ss.get("sim_drawn_gen") or choice.running(rt) != ss.get("sim_feed_shown")


def source_inputs(rt: Runtime) -> tuple[str, str]:
    """The source, exchange and instrument widgets; returns the (exchange, symbol) they show. The feed's state
    is not repeated here: the status line above the results (in the live view) shows it on every refresh,
    where a timed fragment of its own in the sidebar cost every session a second script run a second."""
    ss = st.session_state
    generation = ss["sim_feed_gen"]
    ss["sim_drawn_gen"] = generation
    keys = {f: widget_key(f, generation) for f in FIELDS}
    locked = choice.switching_locked(rt)
    st.selectbox(
        "Data source",
        list(choice.SOURCES),
        format_func=choice.source_label,
        key=keys["source"],
        on_change=_picked,
        args=(rt, generation),
        disabled=locked,
        help="Replay streams a bundled real recording over a local WebSocket; the live sources connect "
        "to GoQuant or OKX. One feed serves every session of this app.",
    )
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
            st.button("Connect", key="sim_custom_connect", on_click=_connect_custom, args=(rt,))
    if ss["sim_feed_error"]:
        st.error(ss["sim_feed_error"], icon=":material/error:")
    offered = choice.offered(rt, ss[keys["source"]])
    if ss.get(keys["exchange"]) not in offered:
        ss[keys["exchange"]] = next(iter(offered))
    st.selectbox(
        "Exchange",
        list(offered),
        key=keys["exchange"],
        on_change=_picked,
        args=(rt, generation),
        disabled=locked,
        format_func=lambda e: EXCHANGE_LABELS.get(e, e),
    )
    symbols = offered[ss[keys["exchange"]]]
    if ss.get(keys["symbol"]) not in symbols:
        ss[keys["symbol"]] = preferred_symbol(symbols)
    labels = choice.instrument_labels(rt, ss[keys["exchange"]], symbols)
    st.selectbox(
        "Instrument",
        symbols,
        key=keys["symbol"],
        on_change=_picked,
        args=(rt, generation),
        disabled=locked,
        format_func=labels.__getitem__,
        help="Replay offers the bundled recordings' instruments; choosing one switches the recording. One feed "
        "serves every visitor of this app: a choice here switches it for everyone, and their pages say so.",
    )
    return ss[keys["exchange"]], ss[keys["symbol"]]
