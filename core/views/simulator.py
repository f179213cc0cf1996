"""The Simulator page's logic without Streamlit: a scenario and one book in, everything the page draws out.

``compute_view(snapshot, scenario, ...)`` prices a scenario (``core.views.inputs.parse_inputs``) on one
book: the ``CostEstimate``, the depth-chart data with the order's fill range, the cost-versus-size curve,
the cost-breakdown table and the internal latency figures. It is a plain function of a snapshot and
inputs, tested directly, because AppTest never fires ``run_every``. ``live_view`` is the same on the
runtime's latest data, with the order priced on every book by the feed thread. The source functions say
which exchanges and instruments a data source offers.

Units follow ``docs/METHODOLOGY.md`` section 1: USD (USDT counted 1:1) positive when it costs the trader,
bps of the executed notional.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.costs.composition import bps
from core.costs.estimate import CostEstimate, estimate
from core.costs.fees import FeeTier
from core.costs.models import Models
from core.costs.order import AtExpiry, Order, OrderType, Side, SizeUnit
from core.costs.volatility import Volatility, realised_vol
from core.costs.walk import Walk
from core.errors import SimulatorError
from core.feed.config import FeedConfig, Source
from core.feed.replay import RecordingInfo
from core.market.book import BookSnapshot
from core.market.instruments import Instrument, InstrumentTable
from core.market.venues import VenueKind
from core.pricing.pricer import CostFigures, TickPricer
from core.runtime import Runtime
from core.views.formatting import usd
from core.views.inputs import Scenario

if TYPE_CHECKING:  # imported where a table is built: the Simulator's first view builds none (issue 15, startup)
    import pandas as pd

#: the cost-versus-size curve: $10 to $10M, log-spaced
CURVE_SIZES_USD = np.geomspace(10.0, 1e7, 31)
#: the depth chart shows at least this far from the mid on each side (bps), and at least this many levels
DEPTH_MIN_HALF_WIDTH_BPS = 5.0
DEPTH_MIN_LEVELS = 25

METHOD_LABELS = {
    "slippage": "Expected slippage",
    "slippage_p90": "Slippage p90 band",
    "impact": "Market impact",
    "fees": "Fees",
    "maker_fraction": "Maker/taker proportion",
    "volatility": "Volatility",
    "book_walk": "Book walk",
}
MODEL_ROLE_LABELS = {
    "slippage_expected": "Slippage model (expected value)",
    "slippage_quantiles": "Slippage model (p90 band)",
    "maker_taker": "Maker/taker model",
}


# --------------------------------------------------------------------------------------------------
# Data source: which exchanges and instruments a source offers, and the feed config for a choice


def source_instruments(
    source: Source,
    table: InstrumentTable,
    recordings: Sequence[RecordingInfo],
    *,
    running: tuple[str, str] | None = None,
) -> dict[str, list[str]]:
    """exchange -> symbols the source can stream. Replay: the bundled recordings' instruments; an exchange's
    live feed: its own instruments; an aggregator's: every exchange's (from the venue registry).

    ``running`` (exchange, symbol) is what the feed streams from this source now; it is always offered, so a
    replay of a user's own recording (``TCS_REPLAY_FILE``) shows as the current choice.
    """
    out: dict[str, list[str]] = {}
    if source is Source.REPLAY:
        for r in recordings:
            out.setdefault(r.exchange, [])
            if r.symbol not in out[r.exchange]:
                out[r.exchange].append(r.symbol)
    elif (venue := source.venue) is not None and venue.kind is VenueKind.EXCHANGE:
        out = {venue.id: table.symbols(venue.id)}
    else:  # an aggregator relays every exchange of the instrument table
        out = {e: table.symbols(e) for e in table.exchanges()}
    if running is not None and all(running):
        ex, sym = running
        if sym not in out.setdefault(ex, []):
            out[ex].append(sym)
    return out


def preferred_symbol(symbols: Sequence[str]) -> str:
    """The symbol to pre-select in a list: BTC-USDT-SWAP, else BTCUSDT, else any BTC one, else the first."""
    for want in ("BTC-USDT-SWAP", "BTCUSDT"):
        if want in symbols:
            return want
    return next((s for s in symbols if s.startswith("BTC")), symbols[0] if symbols else "")


def feed_config_for(
    source: Source,
    exchange: str,
    symbol: str,
    *,
    recordings: Sequence[RecordingInfo],
    replay_speed: float = 1.0,
) -> FeedConfig:
    """The feed configuration that streams ``exchange``/``symbol`` from ``source``."""
    if source is Source.REPLAY:
        for r in recordings:
            if r.exchange == exchange and r.symbol == symbol:
                return FeedConfig(source=Source.REPLAY, replay_file=str(Path(r.path)), replay_speed=replay_speed)
        raise SimulatorError(f"No bundled recording of {symbol} on {exchange}; choose one from the list.")
    return FeedConfig(source=source, exchange=exchange, symbol=symbol)


# --------------------------------------------------------------------------------------------------
# The fee-table market of an instrument (``core.views.fee_choice`` lists its tiers)


def market_kind(instrument: Instrument) -> str:
    """The fee-table market of an instrument: ``spot`` or ``swap`` (futures use the derivatives table)."""
    return "spot" if instrument.kind == "spot" else "swap"


# --------------------------------------------------------------------------------------------------
# One book + the scenario -> everything the live view renders


@dataclass(frozen=True)
class DepthChart:
    """Cumulative depth per side (USD and base units by price) and the order's footprint on it."""

    # columns price, cum_usd, cum_base as arrays, best first (bids descending, asks ascending), levels in the
    # window: only the depth chart reads them, and a DataFrame each would cost every view (and its first, the
    # import of pandas)
    bids: Mapping[str, np.ndarray]
    asks: Mapping[str, np.ndarray]
    mid: float
    side: Side
    fill_from: float  # the touch on the order's side
    fill_to: float  # the last price the order reaches (the extrapolated marginal price when beyond depth)
    avg_price: float
    beyond_visible: bool
    x_range: tuple[float, float]


@dataclass(frozen=True)
class LatencyStats:
    """Internal latency per tick = feed processing (parse + book + publish) + cost computation, µs."""

    last_us: float
    p50_us: float
    p99_us: float
    feed_last_us: float
    cost_last_us: float
    ticks: int  # ticks in the feed-processing history


@dataclass(frozen=True)
class SimulatorView:
    """Everything the live view renders for one book."""

    exchange: str
    symbol: str
    recv_ns: int  # local receive time of the book priced
    mid: float
    estimate: CostEstimate | None
    error: str | None  # the order could not be priced on this book (plain message)
    depth_warning: str | None  # "beyond visible depth" in words, when it applies
    volatility: Volatility
    depth: DepthChart | None
    curve: pd.DataFrame | None
    breakdown: tuple[BreakdownRow, ...] | None  # breakdown_lines: component, USD, bps, method
    latency: LatencyStats | None
    methods: tuple[tuple[str, str], ...]  # (number, method), then why a learned model is not used (method_rows)
    ticks: pd.DataFrame | None = None  # this order priced on every recent book (core.pricing.tracker), oldest first
    #: the book came from the replay (its time steps back when it starts over), not a live feed (whose exchange
    #: time stepping back is the exchange's clock): the charts name the break by it
    replay: bool = True


def depth_warning(snapshot: BookSnapshot, side: Side | str, quantity_usd: float) -> str | None:
    """A plain sentence when the order is larger than the visible side of the book, else None."""
    buy = Side.parse(side) is Side.BUY
    visible = float((snapshot.ask_cum_quote if buy else snapshot.bid_cum_quote)[-1])
    if quantity_usd <= visible:
        return None
    which = "asks" if buy else "bids"
    return (
        f"Beyond visible depth: the visible {which} hold {usd(visible)}; the other {usd(quantity_usd - visible)} "
        "is priced by extending the book at its average depth slope: a rough estimate, high if deeper books get "
        "denser, and it can jump from one book to the next as large orders enter or leave the visible levels."
    )


def _fill_end(walk: Walk) -> float:
    last = float(walk.fill_px[-1]) if walk.fill_px.size else walk.best
    if walk.extrapolated_base <= 0:
        return last
    move = walk.extrapolation_slope * walk.extrapolated_base
    return last + move if walk.side is Side.BUY else max(last - move, 0.0)


def depth_chart(snapshot: BookSnapshot, e: CostEstimate) -> DepthChart:
    """Depth around the mid with the order's footprint: for a market order from the touch to the last price its
    walk reaches; for a limit order from its resting price to the end of the crossed rest (if any)."""
    mid = snapshot.mid
    if e.order_type is OrderType.LIMIT and e.limit_price is not None:
        fill_from = e.limit_price
        fill_to = _fill_end(e.walk) if (e.crossed_usd > 0 and e.walk is not None) else e.limit_price
    else:
        assert e.walk is not None  # a market order always walks the book
        fill_from, fill_to = e.walk.best, _fill_end(e.walk)
    # Window: the order's footprint with a margin, never narrower than a few bps or the first levels.
    k = DEPTH_MIN_LEVELS - 1
    half = max(
        1.5 * abs(fill_to - mid),
        1.5 * abs(fill_from - mid),
        mid * DEPTH_MIN_HALF_WIDTH_BPS / 1e4,
        abs(float(snapshot.bid_px[min(k, snapshot.bid_px.size - 1)]) - mid),
        abs(float(snapshot.ask_px[min(k, snapshot.ask_px.size - 1)]) - mid),
    )
    lo, hi = max(mid - half, 0.0), mid + half
    # Only the levels inside the window (and the first one past it, so the step reaches the edge): the
    # y axis then scales to what is shown, and the browser receives tens of points, not hundreds.
    nb = min(int(np.searchsorted(-snapshot.bid_px, -lo, side="right")) + 1, snapshot.bid_px.size)
    na = min(int(np.searchsorted(snapshot.ask_px, hi, side="right")) + 1, snapshot.ask_px.size)
    return DepthChart(
        bids={
            "price": snapshot.bid_px[:nb],
            "cum_usd": snapshot.bid_cum_quote[:nb],
            "cum_base": snapshot.bid_cum_base[:nb],
        },
        asks={
            "price": snapshot.ask_px[:na],
            "cum_usd": snapshot.ask_cum_quote[:na],
            "cum_base": snapshot.ask_cum_base[:na],
        },
        mid=mid,
        side=e.side,
        fill_from=fill_from,
        fill_to=fill_to,
        avg_price=e.avg_price,
        beyond_visible=e.beyond_visible,
        x_range=(lo, hi),
    )


def cost_curve(
    snapshot: BookSnapshot,
    order: Order,
    *,
    fee_tier: FeeTier,
    volatility: Volatility,
    models: Models | None = None,
    sizes_usd: Sequence[float] | np.ndarray = CURVE_SIZES_USD,
) -> pd.DataFrame:
    """Net cost (and its parts) in bps for each order size on this book; NaN where a size cannot be priced."""
    import pandas as pd  # only the curve's chart reads it (see the imports)

    rows = []
    for s in sizes_usd:
        try:
            e = estimate(
                snapshot,
                replace(order, quantity=float(s), unit=SizeUnit.QUOTE),
                fee_tier=fee_tier,
                volatility=volatility,
                models=models,
            )
            rows.append((float(s), e.net_cost_bps, e.slippage_bps, e.impact_bps, e.fee_bps, e.beyond_visible))
        except (SimulatorError, ValueError):  # e.g. a sell larger than the extended book could pay
            rows.append((float(s), math.nan, math.nan, math.nan, math.nan, True))
    columns = ["size_usd", "net_bps", "slippage_bps", "impact_bps", "fee_bps", "beyond_visible"]
    return pd.DataFrame(rows, columns=columns)


BREAKDOWN_COLUMNS = ("component", "USD", "bps", "method")
#: one row of the cost breakdown (``BREAKDOWN_COLUMNS``)
BreakdownRow = tuple[str, float, float, str]


def breakdown_lines(e: CostEstimate) -> tuple[BreakdownRow, ...]:
    """One row per cost component and their sum (``BREAKDOWN_COLUMNS``): USD, bps of the executed notional, and
    the method. Plain tuples, not a DataFrame: every view makes them, and text columns made pandas build Arrow
    string arrays on each refresh.

    Market impact is a row of its own but is part of slippage: net cost adds slippage and fees (and, for a limit
    order, its expected adverse selection and opportunity cost), never impact a second time."""
    m = e.methods
    n = e.filled_usd
    rows = [("Expected slippage (vs arrival mid)", e.slippage_usd, e.slippage_bps, m.get("slippage", ""))]
    if e.order_type is OrderType.LIMIT:  # the maker part and the crossed rest make up slippage; impact is the rest's
        rows.append(
            (
                "  of which maker part (at the limit price)",
                e.maker_part_usd,
                bps(e.maker_part_usd, n),
                "the share filled as maker, at the limit price vs the arrival mid (negative: a gain)",
            )
        )
        if e.crossed_usd > 0:
            rows += [
                (
                    "  of which crossed rest (book walk)",
                    e.walk_slippage_usd,
                    bps(e.walk_slippage_usd, n),
                    "the rest crossed as taker at the horizon, walked on this book",
                ),
                ("    of it market impact (permanent)", e.impact_usd, e.impact_bps, m.get("impact", "")),
            ]
    else:
        rows.append(("  of which market impact (permanent)", e.impact_usd, e.impact_bps, m.get("impact", "")))
    rows.append(("Fees", e.fee_usd, e.fee_bps, m.get("fees", "")))
    net_how = "slippage + fees (impact is inside slippage)"
    if e.order_type is OrderType.LIMIT:
        rows += [
            (
                "Adverse selection (limit)",
                e.adverse_selection_usd,
                bps(e.adverse_selection_usd, n),
                m.get("adverse_selection", "not estimated for this horizon"),
            ),
            (
                "Opportunity cost (limit)",
                e.opportunity_usd,
                bps(e.opportunity_usd, n),
                m.get("opportunity", "not estimated for this horizon"),
            ),
        ]
        net_how = "slippage + fees + adverse selection + opportunity cost (impact is inside slippage)"
    rows.append(("Net cost", e.net_cost_usd, e.net_cost_bps, net_how))
    return tuple(rows)


def internal_latency(
    timings: Mapping[str, np.ndarray] | None, cost_us: float, cost_history: Sequence[float] | None = None
) -> LatencyStats:
    """Feed processing per tick (parse + book + publish) plus the cost computation.

    ``last`` adds ``cost_us`` to the latest tick's processing. The percentiles add the two parts'
    percentiles; for two independent parts that is at or above the percentile of their sum, so it never
    flatters. The cost part is ``cost_history`` when given (this order priced on each tick by the feed
    thread, ``core.pricing.tracker``), else the recorded page estimates plus this one.
    """
    feed = np.empty(0)
    cost_hist = np.asarray([cost_us], dtype=np.float64)
    if cost_history is not None and len(cost_history):
        cost_hist = np.asarray(cost_history, dtype=np.float64)
        cost_hist = cost_hist[np.isfinite(cost_hist)]
    if timings:
        parts = [
            np.asarray(timings.get(k, np.empty(0)), dtype=np.float64) for k in ("parse_us", "book_us", "publish_us")
        ]
        n = min(p.size for p in parts)
        if n:
            feed = parts[0][-n:] + parts[1][-n:] + parts[2][-n:]
            feed = feed[np.isfinite(feed)]
        if cost_history is None or not len(cost_history):
            recorded = np.asarray(timings.get("cost_us", np.empty(0)), dtype=np.float64)
            cost_hist = np.concatenate((recorded[np.isfinite(recorded)], cost_hist))
    feed_last = float(feed[-1]) if feed.size else 0.0

    def pct(q: float) -> float:
        f = float(np.percentile(feed, q)) if feed.size else 0.0
        return f + float(np.percentile(cost_hist, q))

    return LatencyStats(
        last_us=feed_last + cost_us,
        p50_us=pct(50),
        p99_us=pct(99),
        feed_last_us=feed_last,
        cost_last_us=cost_us,
        ticks=int(feed.size),
    )


METHOD_COLUMNS = ("number", "method")


def method_rows(e: CostEstimate | None, fallbacks: Mapping[str, str] | None = None) -> tuple[tuple[str, str], ...]:
    """Which method produced each number, then why any learned model is not in use (``METHOD_COLUMNS``); plain
    tuples, as ``breakdown_lines`` says why."""
    rows = []
    if e is not None:
        for k, label in METHOD_LABELS.items():
            if k in e.methods:
                rows.append((label, e.methods[k]))
        rows.extend(("Note", n) for n in e.notes)
    for role, why in (fallbacks or {}).items():
        rows.append((MODEL_ROLE_LABELS.get(role, role), why))  # already a sentence saying it is not used, and why
    return tuple(rows)


def compute_view(
    snapshot: BookSnapshot,
    scenario: Scenario,
    *,
    mid_history: tuple[np.ndarray, np.ndarray] | None = None,
    models: Models | None = None,
    fallbacks: Mapping[str, str] | None = None,
    timings: Mapping[str, np.ndarray] | None = None,
    curve_sizes_usd: Sequence[float] | np.ndarray = CURVE_SIZES_USD,
    ticks: Sequence[CostFigures] | None = None,
    curve: bool = True,
) -> SimulatorView:
    """Price ``scenario`` on ``snapshot``; a book the order cannot be priced on gives ``error``, not an exception.

    ``mid_history`` is the feed's (receive time s, mid) history for the realised volatility; ``models`` the
    learned-model slots (the order carries the latency assumption they read); ``fallbacks`` why any model
    is not used; ``timings`` the store's ``tick_timings()``; ``ticks`` this order's per-tick figures from
    the feed thread (``core.pricing.tracker``), which give the internal latency and the tick-by-tick chart.
    ``curve=False`` leaves out the cost-versus-size curve (31 estimates; only its chart shows it, and a
    timed refresh that reuses the charts does not need it).
    """
    times, mids = mid_history if mid_history is not None else (np.empty(0), np.empty(0))
    vol = realised_vol(times, mids, override_annual=scenario.volatility_override, mid=snapshot.mid)
    base: dict[str, Any] = dict(
        exchange=snapshot.exchange,
        symbol=snapshot.symbol,
        recv_ns=snapshot.recv_ns,
        mid=snapshot.mid,
        volatility=vol,
        replay=Source.replayed(snapshot.source),
    )
    if not scenario.ok:
        msg = "; ".join(scenario.errors.values()) or "The order is incomplete."
        return SimulatorView(
            **base,
            estimate=None,
            error=msg,
            depth_warning=None,
            depth=None,
            curve=None,
            breakdown=None,
            latency=None,
            methods=method_rows(None, fallbacks),
        )
    order, tier = scenario.order, scenario.fee_tier
    assert order is not None and tier is not None
    # a limit order whose rest is cancelled never walks the book; one crossed at expiry may
    walks = order.order_type is OrderType.MARKET or order.at_expiry is AtExpiry.CROSS
    notional = order.quantity * snapshot.mid if order.unit is SizeUnit.BASE else order.quantity
    warning = depth_warning(snapshot, order.side, notional) if walks else None
    try:
        e = estimate(snapshot, order, fee_tier=tier, volatility=vol, models=models)
    except (SimulatorError, ValueError) as exc:
        return SimulatorView(
            **base,
            estimate=None,
            error=str(exc),
            depth_warning=warning,
            depth=None,
            curve=None,
            breakdown=None,
            latency=None,
            methods=method_rows(None, fallbacks),
        )
    if ticks:  # the feed thread's figure for this very book when it has one, else the latest
        mine = next((f for f in reversed(ticks) if f.recv_ns == snapshot.recv_ns), ticks[-1])
        latency = internal_latency(timings, mine.latency_us, [f.latency_us for f in ticks])
    else:
        latency = internal_latency(timings, e.latency_us)
    return SimulatorView(
        **base,
        estimate=e,
        error=None,
        depth_warning=warning,
        depth=depth_chart(snapshot, e),
        curve=cost_curve(snapshot, order, fee_tier=tier, volatility=vol, models=models, sizes_usd=curve_sizes_usd)
        if curve
        else None,
        breakdown=breakdown_lines(e),
        latency=latency,
        methods=method_rows(e, fallbacks),
        ticks=tick_table(ticks),
    )


def with_curve(rt: Runtime, snapshot: BookSnapshot, scenario: Scenario, view: SimulatorView) -> SimulatorView:
    """``view`` with its cost-versus-size curve (31 estimates), priced as ``compute_view`` would: a page draws
    the figures a trader watches first and the curve's chart after them, so an input shows its effect sooner."""
    if view.estimate is None or view.curve is not None or scenario.order is None or scenario.fee_tier is None:
        return view
    curve = cost_curve(
        snapshot, scenario.order, fee_tier=scenario.fee_tier, volatility=view.volatility, models=rt.models().models
    )
    return replace(view, curve=curve)


def track_key(scenario: Scenario, exchange: str, symbol: str, models: Models | None) -> tuple:
    """What makes two sessions' per-tick pricing identical (they then share one track)."""
    return (exchange, symbol, scenario.order, scenario.fee_tier, scenario.volatility_override, id(models))


def pricer_for(scenario: Scenario, models: Models | None) -> TickPricer:
    assert scenario.order is not None and scenario.fee_tier is not None
    return TickPricer(scenario.order, fee_tier=scenario.fee_tier, models=models)


def tick_table(ticks: Sequence[CostFigures] | None) -> pd.DataFrame | None:
    """Per-tick figures as columns with units in their names (exchange and receive time, costs in bps and USD):
    the columns the tick chart (``core.views.charts.ticks_spec``) and the 30 s range (``core.views.compare``)
    read, no more (the fee and latency columns went: nothing read them, and every view builds this table).

    Receive time only moves forward; exchange time steps back where a replay started over (the chart breaks
    its line there, ``core.views.charts.ticks_figure``). Built column by column from the tuples (a refresh
    builds it for up to a track's 600 figures; a DataFrame of the tuples took milliseconds)."""
    if not ticks:
        return None
    import pandas as pd  # see the imports: a first view has no ticks yet

    cols = dict(zip(CostFigures._fields, zip(*ticks, strict=True), strict=True))
    recv_ns = np.fromiter(cols["recv_ns"], dtype=np.int64, count=len(ticks))
    exch_ms = np.fromiter(cols["exchange_ts_ms"], dtype=np.int64, count=len(ticks))
    ts_ms = np.where(exch_ms > 0, exch_ms, recv_ns // 1_000_000)

    def floats(name: str) -> np.ndarray:
        return np.fromiter(cols[name], dtype=np.float64, count=len(ticks))

    return pd.DataFrame(
        {
            "time_utc": pd.to_datetime(ts_ms, unit="ms", utc=True),
            "received_utc": pd.to_datetime(recv_ns // 1000, unit="us", utc=True),
            "mid": floats("mid"),
            "net_cost_bps": floats("net_cost_bps"),
            "slippage_bps": floats("slippage_bps"),
            "impact_bps": floats("impact_bps"),
            "net_cost_usd": floats("net_cost_usd"),
        }
    )


def feed_volatility(mid_history: tuple[np.ndarray, np.ndarray], mid: float | None) -> Volatility:
    """The realised volatility of the feed's mid history, as the sidebar offers it before any override."""
    return realised_vol(*mid_history, mid=mid)


def live_view(
    rt: Runtime,
    snapshot: BookSnapshot,
    scenario: Scenario,
    *,
    exchange: str,
    symbol: str,
    owner: Hashable,
    curve: bool = True,
) -> SimulatorView:
    """``compute_view`` on the runtime's data; from now on the feed thread prices this order on every book.

    The track is shared with sessions of the same inputs; ``owner`` (the session) releases its old track when
    its inputs change. The page's cost latency is recorded for the Latency page.
    """
    loaded: Any = rt.models()
    track = rt.track(
        track_key(scenario, exchange, symbol, loaded.models),
        lambda: pricer_for(scenario, loaded.models),
        exchange=exchange,
        symbol=symbol,
        volatility_override=scenario.volatility_override,
        owner=owner,
    )
    view = compute_view(
        snapshot,
        scenario,
        mid_history=rt.mids(exchange, symbol),
        models=loaded.models,
        fallbacks=loaded.fallbacks,
        timings=rt.tick_timings(),
        ticks=rt.figures(track),
        curve=curve,
    )
    if view.estimate is not None:
        rt.record_cost_latency(view.estimate.latency_us)
    return view
