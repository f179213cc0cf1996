"""The Simulator's freeze-and-compare panel, and the live view's noise line (``core.views.compare`` does the work).

Pinning keeps one book (and the mid history of its volatility) in this session's state; scenario A is the
order in the ticket above and B, C, D change some of its inputs; all are priced on exactly the pinned book.
The scenario count and the variants' inputs are drawn only while a book is pinned, and Streamlit drops the
state of a widget a run does not draw: they persist for the session (``persist_state``, as the ticket's
inputs do), so unpinning and pinning again brings them back.
"""

import time

import streamlit as st

from core.views import compare as cmp
from core.views.inputs import RawInputs, model_ranges, parse_inputs, size_order
from pages.common import shared_views
from pages.order_form import PERSIST

SIDES = {"as A": None, "buy": "buy", "sell": "sell"}


def live_figures(rt, view, notices) -> None:
    """In the live view: the headline's median and range over the last ~30 s, and a note after a replay restart."""
    recent, note = shared_views().derived(  # once per view shared by the sessions refreshing with this one
        view,
        "live_lines",
        lambda: cmp.live_lines(view, rt.restarts(view.exchange, view.symbol), now_s=time.time(), replay=view.replay),
    )
    st.caption(recent)
    if note:
        notices.info(note, icon=":material/replay:")


def _pin(rt, exchange: str, symbol: str) -> None:
    snap = rt.latest(exchange, symbol)
    if snap is None:
        st.session_state["cmp_error"] = f"There is no {symbol} book to pin yet; wait for the first one."
        return
    st.session_state["cmp_error"] = ""
    st.session_state["cmp_pinned"] = cmp.pin(snap, rt.mids(exchange, symbol))


def _unpin() -> None:
    st.session_state["cmp_pinned"] = None


def _as_a(name: str, key: str, step: float, help: str | None = None) -> float | None:
    """A variant's number box: empty means "as A"; kept for the session (``PERSIST``) while the panel is unpinned."""
    return st.number_input(
        name, value=None, min_value=0.0, step=step, placeholder="as A", key=key, persist_state=PERSIST, help=help
    )


def _variant_inputs(label: str, raw_a: RawInputs) -> RawInputs:
    """One scenario's column: the inputs it may change; empty means 'as A'."""
    st.markdown(f"**{label}**: A with these changes")
    side = st.selectbox(f"Side ({label})", list(SIDES), key=f"cmp_side_{label}", persist_state=PERSIST)
    qty = _as_a(f"Size, USD ({label})", f"cmp_qty_{label}", 100.0)
    vol = _as_a(
        f"Volatility, % a year ({label})",
        f"cmp_vol_{label}",
        5.0,
        help="Empty: as A (A's override, or the volatility estimated on the pinned book's mid history).",
    )
    lat = _as_a(f"Latency, ms ({label})", f"cmp_lat_{label}", 50.0)
    return cmp.variant(raw_a, side=SIDES[side], quantity_usd=qty, volatility_pct=vol, latency_ms=lat)


@st.fragment
def compare_panel(rt, exchange: str, symbol: str, raw_a: RawInputs, *, market: str, loaded) -> None:
    """Pin / unpin, up to four scenarios side by side on the pinned book, and what moved."""
    ss = st.session_state
    st.subheader("Compare scenarios on one book")
    pinned = ss.get("cmp_pinned")
    if pinned is None:
        st.caption(
            "Every figure above is repriced on the newest book, which moves from second to second. Pin the current "
            "book to price the order above (A) beside variations of it (B, C, D) on exactly that book, so a "
            "difference comes from the inputs alone."
        )
        st.button(
            "Pin this book", key="cmp_pin", on_click=_pin, args=(rt, exchange, symbol), icon=":material/push_pin:"
        )
        if ss.get("cmp_error"):
            st.error(ss["cmp_error"], icon=":material/error:")
        return
    st.button("Unpin (go live again)", key="cmp_unpin", on_click=_unpin, icon=":material/sync:")
    st.info(cmp.describe_pin(pinned), icon=":material/push_pin:")
    if pinned.key != (exchange, symbol):
        st.warning(
            f"The pinned book is {pinned.key[1]} on {pinned.key[0]}; the sidebar now shows {symbol} on {exchange}. "
            "Unpin, then pin a book of the instrument you want to compare on.",
            icon=":material/sync_problem:",
        )
        return
    n = (
        st.segmented_control("Scenarios", [2, 3, 4], default=2, key="cmp_count", required=True, persist_state=PERSIST)
        or 2
    )
    limit_ok = loaded.models.maker_taker is not None
    cols = st.columns(n, border=True)
    raws = [("A", raw_a)]
    for i in range(1, n):
        with cols[i]:
            raws.append((cmp.LABELS[i], _variant_inputs(cmp.LABELS[i], raw_a)))
    inst, mid = rt.instrument(exchange, symbol), pinned.snapshot.mid
    scenarios = [  # the venue's minimum and lot applied at the pinned mid, as on the cards above
        (
            label,
            size_order(
                parse_inputs(
                    raw,
                    exchange=exchange,
                    market=market,
                    limit_available=limit_ok,
                    instrument=inst,
                    ranges=model_ranges(loaded.models),
                ),
                inst,
                mid,
            ),
        )
        for label, raw in raws
    ]
    with cols[0]:
        st.markdown("**A**: the order in the ticket above")
        st.caption(f"{raw_a.side or ''} {raw_a.order_type} order as entered above; change it there.")
    result = cmp.compare(pinned, scenarios, models=loaded.models)
    st.caption(cmp.what_moves(loaded.models))
    for p in result.priced:
        if p.error:
            st.error(f"{p.label}: {p.error}", icon=":material/error:")
    for line in result.moves:
        st.markdown(f"- {line}")
    st.table(result.inputs)  # a static table wraps its text: a cell is read whole at any width, not cut off
    st.dataframe(cmp.outputs_shown(result, inst.price_decimals), width="stretch", key="cmp_outputs")
