"""Simulator: describe an order in the sidebar; see what it would cost on the live book, tick by tick.

The inputs live outside the fragment (so they never reset or flicker on refresh) and reach it through
session state; the fragment reads the latest book, calls ``core.views.simulator.compute_view`` and renders.
"""

import math
import time
import uuid

import streamlit as st

from core.costs.volatility import realised_vol
from core.errors import SimulatorError
from core.feed.config import FeedConfig, Source
from core.feed.replay import bundled_recordings
from core.views import simulator as sc
from core.views.charts import breakdown_figure, curve_figure, depth_figure, ticks_figure
from core.views.documents import doc_link
from core.views.market import EXCHANGE_LABELS
from pages.common import STATE_BADGE, current_summary, get_feed, get_models, refresh_control, status_line

DOCS = doc_link()  # a link to the Docs page (docs/METHODOLOGY.md)
PERSIST = "session"  # inputs survive page switches
DEFAULTS = {
    "sim_side": "buy",
    "sim_order_type": "market",
    "sim_qty_usd": sc.DEFAULT_QUANTITY_USD,
    "sim_offset_bps": 0.0,
    "sim_horizon_s": 10.0,
    "sim_at_expiry": "cross",
    "sim_fee_override": False,
    "sim_vol_override": False,
    "sim_vol_pct": 50.0,
    "sim_latency_ms": sc.DEFAULT_LATENCY_MS,
    "sim_switch": False,  # set by the source/instrument callbacks; the page switches the feed
    "sim_feed_error": "",
    "sim_last_good": None,  # the last valid Scenario, priced while an input is being fixed
}


def _request_switch() -> None:
    st.session_state["sim_switch"] = True


def _running(feed) -> tuple[str, str, str]:
    """(source, exchange, symbol) the shared feed streams now."""
    status = feed.store.status()
    return ((feed.config.source if feed.config else Source.REPLAY).value, status.exchange, status.symbol)


def _offered(feed, recordings, source: Source) -> dict[str, list[str]]:
    running = _running(feed)
    return sc.source_instruments(
        source, feed.table, recordings, running=running[1:] if running[0] == source.value else None
    )


def _request_custom() -> None:
    st.session_state["sim_custom"] = True


def _connect_custom(feed) -> None:
    """A visitor-typed GoQuant URL: only when the operator allows it, and only to allowlisted hosts."""
    ss = st.session_state
    ss["sim_custom"] = False
    url = str(ss.get("sim_custom_url", "")).strip()
    try:
        feed.start(FeedConfig(source=Source.GOQUANT, url=url))  # the app's feed checks its SourcePolicy
        ss["sim_feed_error"] = ""
    except (SimulatorError, OSError, TimeoutError, ValueError) as exc:
        ss["sim_feed_error"] = f"Could not connect to {url or '(no URL)'}: {exc}"
    ss["sim_feed_shown"] = None


def _switch_feed(feed, recordings) -> None:
    """Start the feed on the source/instrument the user just picked; on refusal keep the old one, say why."""
    ss = st.session_state
    ss["sim_switch"] = False
    source = Source(ss["sim_source"])
    offered = _offered(feed, recordings, source)
    exchange = ss.get("sim_exchange") if ss.get("sim_exchange") in offered else next(iter(offered), "")
    symbols = offered.get(exchange, [])
    symbol = ss.get("sim_symbol") if ss.get("sim_symbol") in symbols else sc.preferred_symbol(symbols)
    if (source.value, exchange, symbol) == _running(feed):
        return
    speed = feed.config.replay_speed if feed.config else 1.0
    try:
        feed.start(sc.feed_config_for(source, exchange, symbol, recordings=recordings, replay_speed=speed))
        ss["sim_feed_error"] = ""
    except (SimulatorError, OSError, TimeoutError, ValueError) as exc:
        ss["sim_feed_error"] = f"Could not switch to {source.label} {symbol}: {exc}"
        ss["sim_feed_shown"] = None  # show what is still running, not the refused choice


def _sync_to_feed(feed) -> tuple[str, str, str]:
    """Point the source widgets at what the shared feed actually runs (before they are drawn)."""
    running = _running(feed)
    keys = ("sim_source", "sim_exchange", "sim_symbol")
    if st.session_state.get("sim_feed_shown") != running or any(k not in st.session_state for k in keys):
        st.session_state["sim_source"], st.session_state["sim_exchange"], st.session_state["sim_symbol"] = running
        st.session_state["sim_feed_shown"] = running
    return running


def _init_state(feed, recordings) -> None:
    for k, v in DEFAULTS.items():
        if k not in st.session_state:
            st.session_state[k] = v
    if st.session_state["sim_switch"]:
        _switch_feed(feed, recordings)
    if st.session_state.get("sim_custom"):
        _connect_custom(feed)
    _sync_to_feed(feed)


def _message(slot, errors: dict, field: str) -> None:
    if field in errors:
        slot.error(errors[field], icon=":material/error:")


def source_inputs(feed, recordings, interval) -> tuple[str, str]:
    ss = st.session_state
    locked = feed.policy is not None and not feed.policy.allow_source_switch
    st.selectbox(
        "Data source",
        [s.value for s in Source],
        format_func=lambda v: Source(v).label,
        key="sim_source",
        on_change=_request_switch,
        disabled=locked,
        help="Replay streams a bundled real recording over a local WebSocket; the live sources connect "
        "to GoQuant or OKX. One feed serves every session of this app.",
    )
    source_status(feed, interval)
    if locked:
        st.caption("The operator fixed the data source of this deployment.")
    elif feed.policy is not None and feed.policy.allow_custom_url:
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
    offered = _offered(feed, recordings, Source(ss["sim_source"]))
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
        ss["sim_symbol"] = sc.preferred_symbol(symbols)
    labels = {s: feed.table.get(ss["sim_exchange"], s).label for s in symbols}
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


def order_inputs(loaded, slots: dict) -> None:
    ss = st.session_state
    st.segmented_control(
        "Side",
        ["buy", "sell"],
        key="sim_side",
        format_func=str.capitalize,
        required=True,
        persist_state=PERSIST,
        help="Buy walks the asks upward; sell walks the bids downward.",
    )
    slots[sc.SIDE] = st.empty()
    limit_ok = loaded.models.maker_taker is not None
    if not limit_ok:
        ss["sim_order_type"] = "market"
    st.radio(
        "Order type",
        ["market", "limit"],
        key="sim_order_type",
        format_func=str.capitalize,
        horizontal=True,
        disabled=not limit_ok,
        persist_state=PERSIST,
        help="Market: crosses the spread now, 100 % taker. Limit: rests behind the touch; the maker/taker "
        f"model gives the share filled as maker within the horizon ({DOCS} §7).",
    )
    if not limit_ok:
        st.caption(f"Limit orders are off: {loaded.fallbacks.get('maker_taker', 'no maker/taker model')}")
    slots[sc.ORDER_TYPE] = st.empty()
    if ss["sim_order_type"] == "limit":
        st.number_input(
            "Limit offset behind the touch (bps)",
            key="sim_offset_bps",
            step=0.5,
            format="%.2f",
            persist_state=PERSIST,
            help="0 = join the best bid (buy) or best ask (sell).",
        )
        slots[sc.OFFSET] = st.empty()
        st.number_input(
            "Horizon (s)",
            key="sim_horizon_s",
            step=5.0,
            format="%.1f",
            persist_state=PERSIST,
            help="How long the order rests before the at-expiry action.",
        )
        slots[sc.HORIZON] = st.empty()
        st.radio(
            "At expiry",
            list(sc.EXPIRY_LABELS),
            key="sim_at_expiry",
            persist_state=PERSIST,
            format_func=sc.EXPIRY_LABELS.__getitem__,
            help="What happens to the part not filled as maker within the horizon.",
        )
        slots[sc.AT_EXPIRY] = st.empty()
    st.number_input(
        "Quantity (USD)",
        key="sim_qty_usd",
        step=100.0,
        format="%.2f",
        persist_state=PERSIST,
        help=f"Order notional in USD (USDT counted 1:1), at most {sc.usd(sc.MAX_NOTIONAL_USD)}.",
    )
    slots[sc.QUANTITY] = st.empty()
    slots["quantity_base"] = st.empty()


def cost_inputs(exchange, market, snap, mids, slots: dict) -> None:
    ss = st.session_state
    choices = sc.fee_choices(exchange, market)
    by_key = {c.key: c for c in choices}
    if choices:
        if ss.get("sim_fee_tier") not in by_key:
            ss["sim_fee_tier"] = choices[0].key
        st.selectbox(
            "Fee tier",
            list(by_key),
            key="sim_fee_tier",
            format_func=lambda k: by_key[k].label,
            help=f"Published {EXCHANGE_LABELS.get(exchange, exchange)} {market} tiers; rates are fractions of "
            f"the notional ({DOCS} §4).",
        )
        tier = by_key[ss["sim_fee_tier"]].tier
        st.caption(
            f"{by_key[ss['sim_fee_tier']].rates}. Source: {tier.source or tier.table}"
            + (f" ({tier.as_of})" if tier.as_of else "")
        )
    else:
        tier = None
        st.caption(f"No published fee table for {exchange} {market}: enter the rates below.")
    slots[sc.FEE_TIER] = st.empty()
    with st.expander("Fee rates (bps)", expanded=ss.get("sim_fee_override", False) or tier is None):
        override = st.checkbox("Override the rates", key="sim_fee_override", persist_state=PERSIST)
        if not override and tier is not None:  # show the tier's own rates
            ss["sim_maker_bps"], ss["sim_taker_bps"] = tier.maker_bps, tier.taker_bps
        for key, label, field in (
            ("sim_maker_bps", "Maker rate (bps)", sc.MAKER_RATE),
            ("sim_taker_bps", "Taker rate (bps)", sc.TAKER_RATE),
        ):
            value = st.number_input(
                label,
                key=key,
                step=0.5,
                format="%.2f",
                disabled=not override,
                persist_state=PERSIST,
                help="1 bps = 0.01 % of the notional; negative = rebate.",
            )
            if value is not None:
                st.caption(f"= {value / 100:.3f} % of the notional")
            slots[field] = st.empty()

    auto = realised_vol(*mids, mid=snap.mid if snap else None)
    vol_override = st.checkbox(
        "Override volatility",
        key="sim_vol_override",
        persist_state=PERSIST,
        help=f"Realised EWMA volatility of the mid on a 1 s grid, half-life 300 s ({DOCS} §5).",
    )
    if not vol_override:
        ss["sim_vol_pct"] = round(auto.annual * 100, 1)
    st.number_input(
        "Volatility (% a year)",
        key="sim_vol_pct",
        step=5.0,
        format="%.1f",
        disabled=not vol_override,
        persist_state=PERSIST,
    )
    st.caption(f"From the feed: {auto.note}")
    slots[sc.VOLATILITY] = st.empty()
    st.number_input(
        "Latency assumption (ms)",
        key="sim_latency_ms",
        step=10.0,
        format="%.0f",
        persist_state=PERSIST,
        help="Time from decision to execution. The slippage models are trained for 0-1000 ms; the book "
        "walk prices the book as it is now.",
    )
    slots[sc.LATENCY] = st.empty()


def raw_inputs() -> sc.RawInputs:
    ss = st.session_state
    return sc.RawInputs(
        side=ss.get("sim_side"),
        order_type=ss.get("sim_order_type"),
        quantity_usd=ss.get("sim_qty_usd"),
        offset_bps=ss.get("sim_offset_bps"),
        horizon_s=ss.get("sim_horizon_s"),
        at_expiry=ss.get("sim_at_expiry"),
        fee_key=ss.get("sim_fee_tier"),
        override_fees=bool(ss.get("sim_fee_override")),
        maker_bps=ss.get("sim_maker_bps"),
        taker_bps=ss.get("sim_taker_bps"),
        override_volatility=bool(ss.get("sim_vol_override")),
        volatility_pct=ss.get("sim_vol_pct"),
        latency_ms=ss.get("sim_latency_ms"),
    )


def source_status(feed, interval) -> None:
    @st.fragment(run_every=interval)
    def status() -> None:
        s = feed.store.status()
        age = "no data yet" if math.isinf(s.last_message_age_s) else f"last message {s.last_message_age_s:.1f} s ago"
        st.caption(f":{STATE_BADGE.get(s.state.value, 'gray')}-badge[{s.state.value}] · {age}")

    status()


# ---- charts -----------------------------------------------------------------------------------------


HELP = {  # one sentence per number: how it is computed, and where it is defined
    "Expected slippage": f"Temporary cost versus the arrival mid: the total immediate cost (book walk, or the slippage "
    f"model) minus the permanent part; p90 from the quantile model when loaded. See {DOCS} §2.",
    "Expected fees": f"Notional × (maker share × maker rate + taker share × taker rate); negative is a rebate. "
    f"See {DOCS} §4.",
    "Market impact": f"Almgren–Chriss permanent part ½·γ·X², γ calibrated from this book, capped at the cost beyond the "
    f"touch. See {DOCS} §6.4.",
    "Net cost": f"Slippage + fees + impact, nothing counted twice; bps are of the executed notional. See {DOCS} §2.",
    "Maker / taker": "Share of the notional expected to fill as maker / as taker: 0 % / 100 % for a market order, from "
    f"the maker/taker model for a limit order. See {DOCS} §7.",
    "Internal latency (last tick)": "This app's own time for the latest tick: parse + book update + publish, plus "
    "pricing this order on that book on the feed thread (perf_counter); network time is not included.",
    "Internal latency p50": "Median feed processing per tick plus the median time to price this order on a tick (the "
    "two percentiles added).",
    "Internal latency p99": "99th percentile of feed processing per tick plus that of pricing this order on a tick "
    "(added, so it never flatters).",
}


def card(col, label: str, value: str, delta: str, note: str | None = None) -> None:
    """A metric with its unit in the value, a grey (not good/bad) second figure and its tooltip."""
    col.metric(label, value, delta, "off", delta_arrow="off", delta_description=note, help=HELP[label])


def render(view: sc.SimulatorView, inst, stale: bool, age_s: float, notices) -> None:
    """Draw the view; messages go into ``notices`` (a fixed container), so the charts below keep their place."""
    e = view.estimate
    if e is None:
        notices.error(view.error or "This order cannot be priced on the current book.", icon=":material/error:")
        return
    if view.depth_warning:
        notices.warning(view.depth_warning, icon=":material/warning:")
    p90 = ("p90 " + sc.usd(e.slippage_p90_usd)) if e.slippage_p90_usd is not None else "no p90 band"
    lat = view.latency
    row1 = st.columns(4, border=True)
    card(row1[0], "Expected slippage", sc.usd(e.slippage_usd), sc.bps(e.slippage_bps), p90)
    card(row1[1], "Expected fees", sc.usd(e.fee_usd), sc.bps(e.fee_bps), e.fee_tier)
    card(row1[2], "Market impact", sc.usd(e.impact_usd), sc.bps(e.impact_bps), "permanent")
    card(row1[3], "Net cost", sc.usd(e.net_cost_usd), sc.bps(e.net_cost_bps), f"of {sc.usd(e.filled_usd)}")
    row2 = st.columns(4, border=True)
    card(row2[0], "Maker / taker", f"{e.maker_fraction:.0%} / {1 - e.maker_fraction:.0%}", e.order_type.value)
    us = sc.microseconds
    parts = f"feed {us(lat.feed_last_us)} + cost {us(lat.cost_last_us)}"
    card(row2[1], "Internal latency (last tick)", us(lat.last_us), parts)
    card(row2[2], "Internal latency p50", us(lat.p50_us), f"{lat.ticks:,} ticks")
    card(row2[3], "Internal latency p99", us(lat.p99_us), f"{lat.ticks:,} ticks")
    book = f"book received {age_s:.1f} s ago" + (" — :orange-badge[STALE] last good book" if stale else "")
    if e.limit_price is not None:
        rest = (
            f"{sc.usd(e.crossed_usd)} crossed as taker at expiry"
            if e.crossed_usd > 0
            else "the rest cancelled at expiry"
        )
        avg = f"average {e.avg_price:,.2f} {inst.quote}" if e.filled_base > 0 else "nothing filled"
        what = (
            f"Limit {e.side.value} {sc.usd(e.size)} resting at {e.limit_price:,.2f} {inst.quote}: "
            f"{sc.usd(e.maker_filled_usd)} expected to fill as maker, {rest}; {avg}"
        )
    else:
        what = (
            f"{e.side.value.capitalize()} {sc.usd(e.size)} → {sc.base_amount(e.filled_base, inst.base)} at "
            f"average {e.avg_price:,.2f} {inst.quote} over {e.levels_used} level(s)"
        )
    st.caption(
        f"{what}; mid {e.mid:,.2f}, spread {sc.bps(e.spread_bps)}; volatility {e.volatility_annual:.1%} a year "
        f"({e.volatility_source.value}); {book}"
    )
    with st.expander("How each number was computed"):
        st.dataframe(view.methods, hide_index=True, width="stretch", key="sim_methods")
    c1, c2 = st.columns(2)
    c1.plotly_chart(breakdown_figure(view), key="sim_breakdown_chart", config={"displaylogo": False})
    c2.plotly_chart(depth_figure(view, inst.base, inst.quote), key="sim_depth_chart", config={"displaylogo": False})
    st.plotly_chart(ticks_figure(view), key="sim_ticks_chart", config={"displaylogo": False})
    st.plotly_chart(curve_figure(view), key="sim_curve_chart", config={"displaylogo": False})
    with st.expander("Cost breakdown table"):
        st.dataframe(
            view.breakdown,
            hide_index=True,
            width="stretch",
            key="sim_breakdown_table",
            column_config={
                "USD": st.column_config.NumberColumn("USD", format="$%.6f"),
                "bps": st.column_config.NumberColumn("bps of notional", format="%.4f"),
            },
        )


def live_view(feed) -> None:
    t0 = time.perf_counter()
    ss = st.session_state
    exchange, symbol = ss["sim_instrument"]
    inst = feed.table.get(exchange, symbol)
    snap = feed.store.latest(exchange, symbol)  # one snapshot for everything this refresh shows
    summary = current_summary(feed, snap)
    # Messages come and go; in fixed containers they never shift the metrics and charts below, so those
    # update in place instead of being redrawn (no flicker).
    with st.container():
        status_line(summary)
    notices = st.container()
    if snap is None:
        notices.info(f"Waiting for the first {symbol} order book…", icon=":material/hourglass_top:")
        return
    status = feed.store.status()
    elsewhere = (status.exchange, status.symbol) != (exchange, symbol)
    if elsewhere and ss.get("sim_followed") != (status.exchange, status.symbol):
        # The shared feed was switched (another session, or the Data page): rerun the whole page once so the
        # sidebar shows, and the view prices, what the feed streams now.
        ss["sim_followed"] = (status.exchange, status.symbol)
        st.rerun(scope="app")
    if elsewhere:
        notices.warning(
            f"The shared feed now streams {status.symbol} on {status.exchange}; pricing on the last {symbol} book.",
            icon=":material/sync_problem:",
        )
    scenario = ss["sim_scenario"]
    priced = scenario if scenario.ok else ss["sim_last_good"]
    if not scenario.ok:
        notices.error(
            "An order input needs fixing (see the sidebar)"
            + ("; showing the last valid order meanwhile." if priced else "."),
            icon=":material/error:",
        )
        if priced is None:
            return
    loaded = get_models()
    # the feed thread prices this order on every book from now on (shared with sessions of the same inputs)
    session = ss.setdefault("sim_session_id", uuid.uuid4().hex)  # new inputs release this session's old track
    track = feed.tracker.track(
        sc.track_key(priced, exchange, symbol, loaded.models),
        lambda: sc.pricer_for(priced, loaded.models),
        exchange=exchange,
        symbol=symbol,
        volatility_override=priced.volatility_override,
        owner=session,
    )
    view = sc.compute_view(
        snap,
        priced,
        mid_history=feed.store.mids(exchange, symbol),
        models=loaded.models,
        fallbacks=loaded.fallbacks,
        timings=feed.store.tick_timings(),
        ticks=feed.tracker.figures(track),
    )
    if view.estimate is not None:
        feed.store.record_cost_latency(view.estimate.latency_us)
    age = snap.age_s(time.time_ns())
    render(view, inst, stale=summary.stale or elsewhere, age_s=age, notices=notices)
    feed.store.record_refresh((time.perf_counter() - t0) * 1e3)


def simulator_page() -> None:
    feed = get_feed()
    recordings = bundled_recordings()
    _init_state(feed, recordings)
    loaded = get_models()
    st.title("Simulator")
    interval = refresh_control("sim_refresh")
    slots: dict = {}
    with st.sidebar:
        st.header("Market")
        exchange, symbol = source_inputs(feed, recordings, interval)
        inst = feed.table.get(exchange, symbol)
        snap = feed.store.latest(exchange, symbol)
        mids = feed.store.mids(exchange, symbol)
        st.header("Order")
        order_inputs(loaded, slots)
        st.header("Costs")
        cost_inputs(exchange, sc.market_kind(inst), snap, mids, slots)
    scenario = sc.parse_inputs(
        raw_inputs(),
        exchange=exchange,
        market=sc.market_kind(inst),
        limit_available=loaded.models.maker_taker is not None,
    )
    for field, slot in slots.items():
        _message(slot, scenario.errors, field)
        if field in scenario.notes and field not in scenario.errors:
            slot.caption(scenario.notes[field])
    if scenario.order is not None and snap is not None:
        slots["quantity_base"].caption(
            f"≈ {sc.base_amount(scenario.order.quantity / snap.mid, inst.base)} at mid {snap.mid:,.2f} {inst.quote}"
        )
        warning = sc.depth_warning(snap, scenario.order.side, scenario.order.quantity)
        if warning and sc.QUANTITY not in scenario.errors:
            slots[sc.QUANTITY].warning(warning, icon=":material/warning:")
    st.session_state["sim_scenario"] = scenario
    st.session_state["sim_instrument"] = (exchange, symbol)
    if scenario.ok:
        st.session_state["sim_last_good"] = scenario

    @st.fragment(run_every=interval)
    def live() -> None:
        live_view(feed)

    live()


simulator_page()
