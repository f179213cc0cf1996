"""The Simulator's order ticket (side, type, size and its unit, limit settings) and the raw values it holds.

The ticket sits in the main column, above the results, so on a phone the inputs are reachable without the
sidebar covering the numbers they change. Inputs persist across page switches; validation is
``core.views.inputs.parse_inputs``, and each message is drawn into the slot (``st.empty``) placed under its
widget here. The size is a text box, as on an exchange: what is typed is kept as typed, and text that is
not a number gets a message instead of silently becoming 0.
"""

import streamlit as st

from core.runtime import Runtime
from core.views import inputs as vi
from core.views.documents import doc_link
from core.views.formatting import usd

DOCS = doc_link("guide", "Guide")  # a link to the Docs page's user guide
PERSIST = "session"  # inputs survive page switches
SIZE_KEYS = {u.value: f"sim_qty_{u.value}" for u in vi.EntryUnit}  # one box per unit, each keeps its text


def _unit_changed(rt: Runtime, exchange: str, symbol: str) -> None:
    """The size unit changed: carry the size over into the new unit at the current mid, as a ticket does."""
    ss = st.session_state
    old, new = ss.get("sim_size_unit_shown", vi.EntryUnit.USD.value), ss.get("sim_size_unit")
    snap = rt.latest(exchange, symbol)
    if new and new != old and snap is not None:
        text = vi.convert_size(ss.get(SIZE_KEYS[old]), old, new, rt.instrument(exchange, symbol), snap.mid)
        if text is not None:
            ss[SIZE_KEYS[new]] = text
    ss["sim_size_unit_shown"] = new


def order_inputs(rt: Runtime, loaded, exchange: str, symbol: str, slots: dict) -> None:
    """The ticket: side, order type, size and unit in one row (stacked on a phone), limit settings below."""
    ss = st.session_state
    inst = rt.instrument(exchange, symbol)
    units = vi.entry_units(inst)
    if ss.get("sim_size_unit") not in units:
        ss["sim_size_unit"] = vi.EntryUnit.USD.value
    ss.setdefault("sim_size_unit_shown", ss["sim_size_unit"])
    side_col, type_col, size_col, unit_col = st.columns([1, 1, 1.4, 1.2], vertical_alignment="top")
    with side_col:
        st.segmented_control(
            "Side",
            ["buy", "sell"],
            key="sim_side",
            format_func=str.capitalize,
            required=True,
            persist_state=PERSIST,
            help="Buy takes the offers (asks) from the cheapest up; sell takes the bids from the highest down.",
        )
        slots[vi.SIDE] = st.empty()
    limit_ok = loaded.models.maker_taker is not None
    if not limit_ok:
        ss["sim_order_type"] = "market"
    with type_col:
        st.radio(
            "Order type",
            ["market", "limit"],
            key="sim_order_type",
            format_func=str.capitalize,
            horizontal=True,
            disabled=not limit_ok,
            persist_state=PERSIST,
            help="Market: trades now against the book, all as taker. Limit: rests in the book at or behind the "
            f"best price and may fill as maker; what is left at the end is crossed or cancelled ({DOCS}).",
        )
        if not limit_ok:
            st.caption(f"Limit orders are off: {loaded.fallbacks.get('maker_taker', 'no maker/taker model')}")
        slots[vi.ORDER_TYPE] = st.empty()
    unit = ss["sim_size_unit"]
    with unit_col:
        st.segmented_control(
            "Size in",
            list(units),
            key="sim_size_unit",
            format_func=units.__getitem__,
            required=True,
            on_change=_unit_changed,
            args=(rt, exchange, symbol),
            persist_state=PERSIST,
            help=f"Enter the size in USD, in {inst.base}"
            + (", or in the venue's contracts" if inst.sized_in_contracts else "")
            + "; it is converted to the venue's unit and rounded down to its lot.",
        )
    with size_col:
        st.text_input(
            f"Quantity ({units[unit]})",
            key=SIZE_KEYS[unit],
            persist_state=PERSIST,
            help=f"How much to buy or sell, in {units[unit]}; at most {usd(vi.MAX_NOTIONAL_USD)}. Commas are fine "
            "(1,000,000).",
        )
        slots[vi.QUANTITY] = st.empty()
    if ss["sim_order_type"] == "limit":
        offset_col, horizon_col, expiry_col = st.columns(3)
        with offset_col:
            st.number_input(
                "Limit offset behind the touch (bps)",
                key="sim_offset_bps",
                value=None,
                step=0.5,
                format="%.2f",
                persist_state=PERSIST,
                help="How far behind the best price the order rests: 0 = join the best bid (buy) or best ask "
                "(sell); 1 bps = 0.01 %. Beyond the few bps its fill model learned from real trades, the app says so "
                "and prices nothing.",
            )
            slots[vi.OFFSET] = st.empty()
        with horizon_col:
            st.number_input(
                "Horizon (s)",
                key="sim_horizon_s",
                value=None,
                step=5.0,
                format="%.1f",
                persist_state=PERSIST,
                help="How long the order rests before the at-expiry action.",
            )
            slots[vi.HORIZON] = st.empty()
        with expiry_col:
            st.radio(
                "At expiry",
                list(vi.EXPIRY_LABELS),
                key="sim_at_expiry",
                persist_state=PERSIST,
                format_func=vi.EXPIRY_LABELS.__getitem__,
                help="What happens to the part not filled as maker within the horizon.",
            )
            slots[vi.AT_EXPIRY] = st.empty()


def raw_inputs() -> vi.RawInputs:
    ss = st.session_state
    return vi.RawInputs(
        side=ss.get("sim_side"),
        order_type=ss.get("sim_order_type"),
        quantity_usd=ss.get(SIZE_KEYS["usd"]),
        size_unit=ss.get("sim_size_unit"),
        quantity_base=ss.get(SIZE_KEYS["base"]),
        quantity_contracts=ss.get(SIZE_KEYS["contracts"]),
        offset_bps=ss.get("sim_offset_bps"),
        horizon_s=ss.get("sim_horizon_s"),
        at_expiry=ss.get("sim_at_expiry"),
        fee_key=ss.get("sim_fee_tier"),
        override_fees=bool(ss.get("sim_fee_override")),
        bnb_discount=bool(ss.get("sim_fee_bnb")),
        maker_bps=ss.get("sim_maker_bps"),
        taker_bps=ss.get("sim_taker_bps"),
        override_volatility=bool(ss.get("sim_vol_override")),
        volatility_pct=ss.get("sim_vol_pct"),
        latency_ms=ss.get("sim_latency_ms"),
    )


def show_message(slot, errors: dict, field: str) -> None:
    if field in errors:
        slot.error(errors[field], icon=":material/error:")


def sized(scenario: vi.Scenario, rt, exchange: str, symbol: str, snap) -> vi.Scenario:
    """The scenario with the venue's minimum and lot applied at the mid of the book seen when it was entered
    (kept until an input changes, as an exchange converts a USD size once, on submission)."""
    ss = st.session_state
    key = (scenario, exchange, symbol)
    cached = ss.get("sim_sized")
    if cached is not None and cached[0] == key:
        return cached[1]
    if snap is None:
        return scenario
    result = vi.size_order(scenario, rt.instrument(exchange, symbol), snap.mid)
    ss["sim_sized"] = (key, result)
    return result
