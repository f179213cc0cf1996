"""The Simulator page's logic without Streamlit: raw widget values in, everything the page draws out.

Two plain functions, tested directly (AppTest never fires ``run_every``, so the live view must be a
function of a snapshot and inputs):

1. ``parse_inputs(raw, ...)`` turns what the widgets hold (possibly empty, NaN, negative, absurd) into a
   ``Scenario``: a validated ``Order``, fee tier and settings, or one plain-language message per field.
2. ``compute_view(snapshot, scenario, ...)`` prices that scenario on one book: the ``CostEstimate``, the
   depth-chart data with the order's fill range, the cost-versus-size curve, the cost-breakdown table and
   the internal latency figures.

Units follow ``docs/METHODOLOGY.md`` section 1: USD (USDT counted 1:1) positive when it costs the trader,
bps of the executed notional, rates entered in bps, volatility entered in % a year.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.costs.estimate import CostEstimate, estimate
from core.costs.fees import MAX_ABS_RATE, FeeTier, custom_tier, fee_book, override
from core.costs.models import Models
from core.costs.order import MAX_LATENCY_MS, MAX_NOTIONAL_USD, AtExpiry, Order, OrderType, Side
from core.costs.volatility import MAX_ANNUAL_VOL, Volatility, realised_vol
from core.costs.walk import Walk
from core.errors import SimulatorError
from core.feed.config import FeedConfig, Source
from core.feed.replay import RecordingInfo
from core.market.book import BookSnapshot
from core.market.instruments import Instrument, InstrumentTable
from core.market.venues import VenueKind
from core.pricing.pricer import CostFigures, TickPricer

# Field names: the page puts each message next to the widget of the same field.
QUANTITY = "quantity"
SIDE = "side"
ORDER_TYPE = "order_type"
OFFSET = "offset_bps"
HORIZON = "horizon_s"
AT_EXPIRY = "at_expiry"
FEE_TIER = "fee_tier"
MAKER_RATE = "maker_rate"
TAKER_RATE = "taker_rate"
VOLATILITY = "volatility"
LATENCY = "latency_ms"

DEFAULT_QUANTITY_USD = 100.0
DEFAULT_LATENCY_MS = 100.0  # a typical round trip from a trader's machine to the exchange
MAX_OFFSET_BPS = 1_000.0
MAX_HORIZON_S = 86_400.0
MAX_RATE_BPS = MAX_ABS_RATE * 1e4  # 100 bps = 1 %
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


#: how the page names the at-expiry actions of a limit order (``core.costs.estimate.AtExpiry``)
EXPIRY_LABELS = {AtExpiry.CROSS.value: "Cross the rest as taker", AtExpiry.CANCEL.value: "Cancel the rest"}


#: amounts below these print as zero: float residue (e.g. 1e-20 USD of impact), not money
ZERO_USD = 1e-8
ZERO_BPS = 1e-6

# --------------------------------------------------------------------------------------------------
# Formatting: every number the page shows goes through one of these, so every number has its unit


def usd(x: float | None) -> str:
    """``$1,234.56``, ``$0.000809``, ``-$0.50``; small amounts keep three significant digits."""
    if x is None or not math.isfinite(x):
        return "n/a"
    a = abs(x)
    if a < ZERO_USD:
        return "$0.00"
    sign = "-" if x < 0 else ""
    if a >= 1:
        body = f"{a:,.2f}"
    else:  # three significant digits, never scientific notation: $0.0501, $0.0000809
        body = f"{a:.{max(2, 2 - math.floor(math.log10(a)))}f}"
    return f"{sign}${body}"


def usd_short(x: float) -> str:
    """``$10``, ``$1.5k``, ``$2M``: axis-style amounts."""
    a = abs(x)
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"${x / div:.3g}{suffix}"
    return f"${x:.3g}"


def bps(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    a = abs(x)
    if a < ZERO_BPS:
        return "0.00 bps"
    if a >= 10:
        return f"{x:,.1f} bps"
    if a >= 0.01:
        return f"{x:.2f} bps"
    return f"{x:.2g} bps"


def rate(fraction: float) -> str:
    """A fee rate in both units: ``5.00 bps (0.050 %)``."""
    return f"{fraction * 1e4:.2f} bps ({fraction * 100:.3f} %)"


def microseconds(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{x / 1000:,.2f} ms" if x >= 10_000 else f"{x:,.0f} µs"


def base_amount(x: float, ccy: str) -> str:
    if not math.isfinite(x):
        return f"n/a {ccy}"
    return f"{x:,.6g} {ccy}" if abs(x) >= 1 else f"{x:.6g} {ccy}"


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
# Fee tiers offered for an instrument


def market_kind(instrument: Instrument) -> str:
    """The fee-table market of an instrument: ``spot`` or ``swap`` (futures use the derivatives table)."""
    return "spot" if instrument.kind == "spot" else "swap"


@dataclass(frozen=True)
class FeeChoice:
    key: str  # "table/tier", the selectbox value
    tier: FeeTier
    primary: bool  # from the venue's primary table

    @property
    def label(self) -> str:
        """``Lv1``, or ``VIP1 (mirror table)`` for a tier of an alternative table."""
        return self.tier.tier if self.primary else f"{self.tier.tier} ({self.tier.table} table)"

    @property
    def rates(self) -> str:
        t = self.tier
        return (
            f"maker {t.maker_rate * 100:.3f} % ({t.maker_bps:.2f} bps) · "
            f"taker {t.taker_rate * 100:.3f} % ({t.taker_bps:.2f} bps)"
        )


def fee_choices(exchange: str, market: str) -> list[FeeChoice]:
    """Every tier of every published table for the venue and market, primary table first."""
    out = []
    for s in fee_book().schedules(exchange, market):
        for t in s.tiers:
            out.append(FeeChoice(key=f"{s.table}/{t.tier}", tier=t, primary=s.primary))
    return out


# --------------------------------------------------------------------------------------------------
# Step 1: widget values -> a validated scenario


@dataclass(frozen=True)
class RawInputs:
    """What the widgets hold, unvalidated. Amounts may be None (an emptied box), NaN, negative, huge."""

    side: str | None = "buy"
    order_type: str | None = "market"
    quantity_usd: float | None = DEFAULT_QUANTITY_USD
    offset_bps: float | None = 0.0
    horizon_s: float | None = 10.0
    at_expiry: str | None = AtExpiry.CROSS.value
    fee_key: str | None = None  # a ``FeeChoice.key``; None = the entry tier
    override_fees: bool = False
    maker_bps: float | None = None
    taker_bps: float | None = None
    override_volatility: bool = False
    volatility_pct: float | None = None  # % a year (50 = 50 %)
    latency_ms: float | None = DEFAULT_LATENCY_MS


@dataclass(frozen=True)
class Scenario:
    """A priced-ready order and its settings, or the reasons it is not (``errors``: field -> message)."""

    order: Order | None
    fee_tier: FeeTier | None
    volatility_override: float | None  # annualised fraction, None = from the feed
    latency_ms: float
    at_expiry: AtExpiry
    errors: Mapping[str, str] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)  # field -> a remark that is not an error

    @property
    def ok(self) -> bool:
        return not self.errors and self.order is not None and self.fee_tier is not None


def _number(value: Any) -> float | None:
    """float(value), or None when empty; NaN stays NaN for the caller to name."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return math.nan
    try:
        return float(str(value).replace(",", "").replace("$", "").strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return math.nan


def check_quantity(value: Any) -> tuple[float | None, str | None]:
    """(USD amount, None) or (None, a plain message)."""
    q = _number(value)
    if q is None:
        return None, "Enter an order size in USD, for example 100."
    if math.isnan(q):
        return None, "The order size is not a number; enter an amount in USD, for example 100."
    if math.isinf(q):
        return None, "The order size is infinite; enter a finite amount in USD."
    if q == 0:
        return None, "The order size is $0; enter an amount above zero."
    if q < 0:
        return None, (f"The order size is negative ({usd(q)}); enter a positive amount and pick buy or sell with Side.")
    if q > MAX_NOTIONAL_USD:
        return None, (
            f"{usd(q)} is more than the {usd(MAX_NOTIONAL_USD)} this simulator prices; check the number of zeros."
        )
    return q, None


def _check_range(
    value: Any, *, what: str, unit: str, lo: float, hi: float, lo_open: bool = False
) -> tuple[float | None, str | None]:
    v = _number(value)
    if v is None:
        return None, f"Enter the {what} in {unit}."
    if not math.isfinite(v):
        return None, f"The {what} must be a finite number of {unit}."
    if v < lo or (lo_open and v == lo):
        bound = "above" if lo_open else "at least"
        return None, f"The {what} must be {bound} {lo:g} {unit}; you entered {v:g} {unit}."
    if v > hi:
        return None, f"The {what} must be at most {hi:,.0f} {unit}; you entered {v:,.6g} {unit}."
    return v, None


def check_rate_bps(value: Any, *, what: str) -> tuple[float | None, str | None]:
    """A fee rate typed in bps -> (fraction, None), or (None, message). Negative = rebate."""
    v = _number(value)
    if v is None:
        return None, f"Enter the {what} in bps (5 bps = 0.05 %), or untick the override."
    if not math.isfinite(v):
        return None, f"The {what} must be a finite number of bps (5 bps = 0.05 %)."
    if abs(v) > MAX_RATE_BPS:
        return None, (
            f"The {what} {v:g} bps is {v / 100:g} % of the notional; fee rates are within ±{MAX_RATE_BPS:g} bps "
            f"(±{MAX_RATE_BPS / 100:g} %). Enter bps: 5 bps = 0.05 %."
        )
    return v / 1e4, None


def check_volatility_pct(value: Any) -> tuple[float | None, str | None]:
    """Annualised volatility typed in % -> (fraction, None), or (None, message)."""
    v = _number(value)
    if v is None:
        return None, "Enter a volatility in % a year (50 = 50 %), or untick the override."
    if not math.isfinite(v):
        return None, "The volatility must be a finite number of % a year (50 = 50 %)."
    if v <= 0:
        return None, f"The volatility must be above 0 % a year; you entered {v:g} %."
    if v > MAX_ANNUAL_VOL * 100:
        return None, f"The volatility must be at most {MAX_ANNUAL_VOL * 100:,.0f} % a year; you entered {v:,.6g} %."
    return v / 100.0, None


def parse_inputs(
    raw: RawInputs,
    *,
    exchange: str,
    market: str,
    limit_available: bool,
) -> Scenario:
    """Validate every field; each bad field gets its own message, keyed by field name."""
    errors: dict[str, str] = {}
    notes: dict[str, str] = {}

    side = str(raw.side or "").strip().lower()
    if side not in ("buy", "sell"):
        errors[SIDE] = "Choose a side: buy or sell."

    order_type = str(raw.order_type or "market").strip().lower()
    if order_type not in ("market", "limit"):
        errors[ORDER_TYPE] = "Choose an order type: market or limit."
    elif order_type == "limit" and not limit_available:
        errors[ORDER_TYPE] = "Limit orders need the maker/taker model, which is not loaded; choose a market order."

    qty, err = check_quantity(raw.quantity_usd)
    if err:
        errors[QUANTITY] = err

    offset, horizon = 0.0, 60.0
    if order_type == "limit":
        offset, err = _check_range(raw.offset_bps, what="limit offset", unit="bps", lo=0.0, hi=MAX_OFFSET_BPS)
        if err:
            errors[OFFSET] = err
        horizon, err = _check_range(
            raw.horizon_s, what="horizon", unit="seconds", lo=0.0, hi=MAX_HORIZON_S, lo_open=True
        )
        if err:
            errors[HORIZON] = err
    try:
        expiry = AtExpiry.parse(raw.at_expiry or "cross")
    except SimulatorError:
        expiry = AtExpiry.CROSS
    if order_type == "limit" and expiry is AtExpiry.CANCEL:
        notes[AT_EXPIRY] = "The unfilled rest is cancelled: it costs nothing, and it is not bought or sold either."

    tier = _fee_tier(raw, exchange=exchange, market=market, errors=errors)

    vol = None
    if raw.override_volatility:
        vol, err = check_volatility_pct(raw.volatility_pct)
        if err:
            errors[VOLATILITY] = err

    latency, err = _check_range(raw.latency_ms, what="latency", unit="ms", lo=0.0, hi=MAX_LATENCY_MS)
    if err:
        errors[LATENCY] = err

    order = None
    if not any(f in errors for f in (SIDE, ORDER_TYPE, QUANTITY, OFFSET, HORIZON)):
        try:
            order = Order(
                side=side,
                quantity=qty,
                unit="usd",
                order_type=order_type,
                offset_bps=offset or 0.0,
                horizon_s=horizon or 60.0,
                at_expiry=expiry,
                latency_ms=latency if latency is not None else DEFAULT_LATENCY_MS,
            )
        except SimulatorError as exc:  # the checks above should catch everything; never a traceback
            errors[QUANTITY] = str(exc)
    return Scenario(
        order=order,
        fee_tier=tier,
        volatility_override=vol,
        latency_ms=latency if latency is not None else DEFAULT_LATENCY_MS,
        at_expiry=expiry,
        errors=errors,
        notes=notes,
    )


def _fee_tier(raw: RawInputs, *, exchange: str, market: str, errors: dict[str, str]) -> FeeTier | None:
    choices = fee_choices(exchange, market)
    chosen = next((c.tier for c in choices if c.key == raw.fee_key), choices[0].tier if choices else None)
    if chosen is None and not raw.override_fees:
        errors[FEE_TIER] = f"There is no fee table for {exchange} {market}; tick 'Override the rates' and enter them."
        return None
    if not raw.override_fees:
        return chosen
    maker, err_m = check_rate_bps(raw.maker_bps, what="maker rate")
    taker, err_t = check_rate_bps(raw.taker_bps, what="taker rate")
    if err_m:
        errors[MAKER_RATE] = err_m
    if err_t:
        errors[TAKER_RATE] = err_t
    if err_m or err_t:
        return None
    if chosen is None:
        return custom_tier(exchange=exchange, market=market, maker_rate=maker, taker_rate=taker)
    if math.isclose(maker, chosen.maker_rate, abs_tol=1e-12) and math.isclose(taker, chosen.taker_rate, abs_tol=1e-12):
        return chosen
    return override(chosen, maker_rate=maker, taker_rate=taker)


# --------------------------------------------------------------------------------------------------
# Step 2: one book + the scenario -> everything the live view renders


@dataclass(frozen=True)
class DepthChart:
    """Cumulative depth per side (USD and base units by price) and the order's footprint on it."""

    bids: pd.DataFrame  # price, cum_usd, cum_base; best first (descending price), levels in the window
    asks: pd.DataFrame  # price, cum_usd, cum_base; best first (ascending price), levels in the window
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
    breakdown: pd.DataFrame | None
    latency: LatencyStats | None
    methods: pd.DataFrame  # number, method (with fallback reasons for the learned models)
    ticks: pd.DataFrame | None = None  # this order priced on every recent book (core.pricing.tracker), oldest first


def depth_warning(snapshot: BookSnapshot, side: Side | str, quantity_usd: float) -> str | None:
    """A plain sentence when the order is larger than the visible side of the book, else None."""
    buy = Side.parse(side) is Side.BUY
    visible = float((snapshot.ask_cum_quote if buy else snapshot.bid_cum_quote)[-1])
    if quantity_usd <= visible:
        return None
    which = "asks" if buy else "bids"
    return (
        f"Beyond visible depth: the visible {which} hold {usd(visible)}; the other {usd(quantity_usd - visible)} "
        "is priced by extending the book at its average depth slope, a conservative estimate."
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
        bids=pd.DataFrame(
            {
                "price": snapshot.bid_px[:nb],
                "cum_usd": snapshot.bid_cum_quote[:nb],
                "cum_base": snapshot.bid_cum_base[:nb],
            }
        ),
        asks=pd.DataFrame(
            {
                "price": snapshot.ask_px[:na],
                "cum_usd": snapshot.ask_cum_quote[:na],
                "cum_base": snapshot.ask_cum_base[:na],
            }
        ),
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
    sizes_usd: Sequence[float] = CURVE_SIZES_USD,
) -> pd.DataFrame:
    """Net cost (and its parts) in bps for each order size on this book; NaN where a size cannot be priced."""
    rows = []
    for s in sizes_usd:
        try:
            e = estimate(
                snapshot, replace(order, quantity=float(s)), fee_tier=fee_tier, volatility=volatility, models=models
            )
            rows.append((float(s), e.net_cost_bps, e.slippage_bps, e.impact_bps, e.fee_bps, e.beyond_visible))
        except (SimulatorError, ValueError):  # e.g. a sell larger than the extended book could pay
            rows.append((float(s), math.nan, math.nan, math.nan, math.nan, True))
    columns = ["size_usd", "net_bps", "slippage_bps", "impact_bps", "fee_bps", "beyond_visible"]
    return pd.DataFrame(rows, columns=columns)


def breakdown_table(e: CostEstimate) -> pd.DataFrame:
    """One row per cost component and their sum: USD, bps of the executed notional, and the method."""
    m = e.methods
    rows = [
        ("Expected slippage (temporary)", e.slippage_usd, e.slippage_bps, m.get("slippage", "")),
        ("Market impact (permanent)", e.impact_usd, e.impact_bps, m.get("impact", "")),
        ("Fees", e.fee_usd, e.fee_bps, m.get("fees", "")),
        ("Net cost", e.net_cost_usd, e.net_cost_bps, "slippage + impact + fees"),
    ]
    return pd.DataFrame(rows, columns=["component", "USD", "bps", "method"])


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


def method_rows(e: CostEstimate | None, fallbacks: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Which method produced each number, then why any learned model is not in use."""
    rows = []
    if e is not None:
        for k, label in METHOD_LABELS.items():
            if k in e.methods:
                rows.append((label, e.methods[k]))
        rows.extend(("Note", n) for n in e.notes)
    for role, why in (fallbacks or {}).items():
        rows.append((MODEL_ROLE_LABELS.get(role, role), why))  # already a sentence saying it is not used, and why
    return pd.DataFrame(rows, columns=["number", "method"])


def compute_view(
    snapshot: BookSnapshot,
    scenario: Scenario,
    *,
    mid_history: tuple[np.ndarray, np.ndarray] | None = None,
    models: Models | None = None,
    fallbacks: Mapping[str, str] | None = None,
    timings: Mapping[str, np.ndarray] | None = None,
    curve_sizes_usd: Sequence[float] = CURVE_SIZES_USD,
    ticks: Sequence[CostFigures] | None = None,
) -> SimulatorView:
    """Price ``scenario`` on ``snapshot``; a book the order cannot be priced on gives ``error``, not an exception.

    ``mid_history`` is the feed's (receive time s, mid) history for the realised volatility; ``models`` the
    learned-model slots (the order carries the latency assumption they read); ``fallbacks`` why any model
    is not used; ``timings`` the store's ``tick_timings()``; ``ticks`` this order's per-tick figures from
    the feed thread (``core.pricing.tracker``), which give the internal latency and the tick-by-tick chart.
    """
    times, mids = mid_history if mid_history is not None else (np.empty(0), np.empty(0))
    vol = realised_vol(times, mids, override_annual=scenario.volatility_override, mid=snapshot.mid)
    base = dict(
        exchange=snapshot.exchange, symbol=snapshot.symbol, recv_ns=snapshot.recv_ns, mid=snapshot.mid, volatility=vol
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
    warning = depth_warning(snapshot, order.side, order.quantity) if walks else None
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
        curve=cost_curve(snapshot, order, fee_tier=tier, volatility=vol, models=models, sizes_usd=curve_sizes_usd),
        breakdown=breakdown_table(e),
        latency=latency,
        methods=method_rows(e, fallbacks),
        ticks=tick_table(ticks),
    )


def track_key(scenario: Scenario, exchange: str, symbol: str, models: Models | None) -> tuple:
    """What makes two sessions' per-tick pricing identical (they then share one track)."""
    return (exchange, symbol, scenario.order, scenario.fee_tier, scenario.volatility_override, id(models))


def pricer_for(scenario: Scenario, models: Models | None) -> TickPricer:
    assert scenario.order is not None and scenario.fee_tier is not None
    return TickPricer(scenario.order, fee_tier=scenario.fee_tier, models=models)


def tick_table(ticks: Sequence[CostFigures] | None) -> pd.DataFrame | None:
    """Per-tick figures as columns with units in their names (exchange time, costs in bps and USD)."""
    if not ticks:
        return None
    df = pd.DataFrame(ticks, columns=CostFigures._fields)
    ts = df["exchange_ts_ms"].where(df["exchange_ts_ms"] > 0, df["recv_ns"] // 1_000_000)
    return pd.DataFrame(
        {
            "time_utc": pd.to_datetime(ts, unit="ms", utc=True),
            "mid": df["mid"],
            "net_cost_bps": df["net_cost_bps"],
            "slippage_bps": df["slippage_bps"],
            "fee_bps": df["fee_bps"],
            "impact_bps": df["impact_bps"],
            "net_cost_usd": df["net_cost_usd"],
            "latency_us": df["latency_us"],
        }
    )
