"""The cost engine: one call turns (book, order, settings) into every number the app shows.

Decomposition (``docs/METHODOLOGY.md`` section 2), all in USD, positive = cost to the trader:

- ``walk_slippage_usd``: what the order pays versus the arrival mid walking the visible book (half-spread
  part + depth part, extrapolated beyond the visible book). For an immediate order this IS Almgren–Chriss'
  whole expected cost (eq. 13: ``epsilon X + eta X^2 / tau``), permanent and temporary parts together.
- ``impact_usd``: the permanent part of that cost, Almgren–Chriss' ``0.5 gamma X^2`` with gamma calibrated
  from the book, capped at the cost beyond the touch (Almgren–Chriss takes it out of the eta part, never
  out of the half-spread), so the temporary part is never negative.
- ``slippage_usd``: the temporary part, total immediate cost minus ``impact_usd``.
- ``fee_usd``: notional x (maker share x maker rate + taker share x taker rate).
- ``net_cost_usd = slippage_usd + fee_usd + impact_usd`` exactly, which equals total cost + fees: nothing
  is counted twice. bps are of the executed notional ``filled_usd``.

A learned slippage model (``SlippageModel``) may replace the book walk as the total immediate cost, and a
maker/taker model (``MakerTakerModel``) supplies the maker share of limit orders; ``methods`` says which
method produced each number.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol, runtime_checkable

from core.costs.fees import FeeTier, expected_fee, fee_method
from core.costs.impact import DEFAULT_PERMANENT_SHARE, DEFAULT_REFILL_S, Calibration, calibrate
from core.costs.volatility import Volatility, VolSource, default_volatility
from core.costs.walk import Side, SizeUnit, Walk, walk_book
from core.errors import OrderError
from core.market.book import BookSnapshot

#: orders above this notional (USD) are rejected as a typo rather than priced
MAX_NOTIONAL_USD = 1e9


class OrderType(str, Enum):
    MARKET = "market"
    LIMIT = "limit"

    @classmethod
    def parse(cls, value: OrderType | str) -> OrderType:
        if isinstance(value, OrderType):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise OrderError(f"Unknown order type {value!r}: use 'market' or 'limit'.") from None


class AtExpiry(str, Enum):
    """What happens to the part of a limit order still unfilled at its horizon."""

    CANCEL = "cancel"  # left unexecuted: no cost, no fee (and no position)
    CROSS = "cross"  # crossed as taker at the horizon against the book

    @classmethod
    def parse(cls, value: AtExpiry | str) -> AtExpiry:
        if isinstance(value, AtExpiry):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise OrderError(f"Unknown at-expiry action {value!r}: use 'cancel' or 'cross'.") from None


MAX_LATENCY_MS = 60_000.0


def finite_number(value: Any, what: str) -> float:
    """``value`` as a finite float, or an ``OrderError`` naming ``what`` in plain words."""
    if isinstance(value, bool) or value is None:
        raise OrderError(f"{what} must be a number, got {value!r}.")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise OrderError(f"{what} must be a number, got {value!r}.") from None
    if math.isnan(v):
        raise OrderError(f"{what} is not a number (NaN); enter a number.")
    if math.isinf(v):
        raise OrderError(f"{what} is infinite; enter a finite number.")
    return v


@dataclass(frozen=True, slots=True)
class Order:
    """What the user wants to do. Strings are accepted for the enums; every field is validated.

    ``offset_bps`` and ``horizon_s`` describe a limit order (distance behind the touch, time it rests)
    and ``at_expiry`` what happens to its unfilled rest; they are ignored for market orders.
    ``latency_ms`` is the assumed delay between deciding and reaching the book (learned slippage band).
    """

    side: Side
    quantity: float  # in ``unit``: USD notional or base units
    unit: SizeUnit = SizeUnit.QUOTE
    order_type: OrderType = OrderType.MARKET
    offset_bps: float = 0.0
    horizon_s: float = 60.0
    at_expiry: AtExpiry = AtExpiry.CROSS
    latency_ms: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "side", Side.parse(self.side))
        object.__setattr__(self, "unit", SizeUnit.parse(self.unit))
        object.__setattr__(self, "order_type", OrderType.parse(self.order_type))
        object.__setattr__(self, "at_expiry", AtExpiry.parse(self.at_expiry))
        lat = finite_number(self.latency_ms, "Latency (ms)")
        if not 0 <= lat <= MAX_LATENCY_MS:
            raise OrderError(f"Latency must be between 0 and {MAX_LATENCY_MS:,.0f} ms, got {lat:g}.")
        object.__setattr__(self, "latency_ms", lat)
        what = "Order size in USD" if self.unit is SizeUnit.QUOTE else "Order size in base units"
        q = finite_number(self.quantity, what)
        if q == 0:
            raise OrderError(f"{what} is zero; enter an amount above zero.")
        if q < 0:
            raise OrderError(f"{what} is negative ({q:g}); use the side (buy/sell) for direction and a positive size.")
        if self.unit is SizeUnit.QUOTE and q > MAX_NOTIONAL_USD:
            raise OrderError(
                f"${q:,.0f} is more than the ${MAX_NOTIONAL_USD:,.0f} this simulator prices; check the size."
            )
        object.__setattr__(self, "quantity", q)
        if self.order_type is OrderType.LIMIT:
            off = finite_number(self.offset_bps, "Limit offset (bps)")
            hor = finite_number(self.horizon_s, "Limit horizon (seconds)")
            if off < 0:
                raise OrderError(f"Limit offset must be >= 0 bps behind the touch, got {off:g}.")
            if hor <= 0:
                raise OrderError(f"Limit horizon must be a positive number of seconds, got {hor:g}.")
            object.__setattr__(self, "offset_bps", off)
            object.__setattr__(self, "horizon_s", hor)


@dataclass(frozen=True, slots=True)
class ModelInput:
    """Everything a learned model may read to build its features for one estimate."""

    snapshot: BookSnapshot
    order: Order
    walk: Walk
    volatility: Volatility
    notional_usd: float


@dataclass(frozen=True, slots=True)
class SlippagePrediction:
    """A model's TOTAL immediate cost versus the arrival mid (the same quantity as the book walk's cost),
    in bps of the executed notional. The engine subtracts the permanent impact from it."""

    expected_bps: float
    p90_bps: float | None = None


@runtime_checkable
class SlippageModel(Protocol):
    name: str  # shown in ``methods``, e.g. "linear model (held-out MAE 0.8 bps)"

    def predict(self, x: ModelInput) -> SlippagePrediction: ...


@runtime_checkable
class MakerTakerModel(Protocol):
    name: str

    def maker_fraction(self, x: ModelInput) -> float:
        """Expected share of the order's notional filled as maker, in [0, 1]."""
        ...


@dataclass(frozen=True, slots=True)
class Models:
    """The learned-model slots; ``None`` keeps the rule-based method for that number."""

    slippage: SlippageModel | None = None
    maker_taker: MakerTakerModel | None = None


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """Every output for one (book, order). USD amounts are positive when they cost the trader; bps are of
    ``filled_usd``; ``net_cost_usd == slippage_usd + fee_usd + impact_usd`` exactly."""

    exchange: str
    symbol: str
    side: Side
    order_type: OrderType
    size: float  # as entered
    size_unit: SizeUnit
    # market
    mid: float
    best_bid: float
    best_ask: float
    spread_bps: float
    # execution against the book
    avg_price: float
    filled_base: float
    filled_usd: float
    levels_used: int
    fully_filled: bool
    beyond_visible: bool
    extrapolated_base: float
    walk_slippage_usd: float  # whole book-walk cost vs arrival mid
    walk_slippage_bps: float
    half_spread_usd: float  # part of the walk cost from crossing to the touch
    depth_usd: float  # part of the walk cost from going past the touch
    # the decomposition
    slippage_usd: float  # temporary part of the expected immediate cost
    slippage_bps: float
    slippage_p90_usd: float | None  # 90th percentile of the temporary part (models only)
    fee_usd: float
    fee_bps: float
    impact_usd: float  # permanent part, 0.5 gamma X^2 (at most the cost beyond the touch)
    impact_bps: float
    net_cost_usd: float
    net_cost_bps: float
    # inputs the numbers used
    maker_fraction: float
    fee_tier: str
    maker_rate: float
    taker_rate: float
    volatility_per_sqrt_s: float  # fraction per sqrt(second)
    volatility_annual: float  # fraction, 0.5 = 50%
    volatility_source: VolSource
    calibration: Calibration
    ac_immediate_usd: float  # Almgren–Chriss immediate cost epsilon X + X^2 / (2 rho) (= walk when fitted on it)
    latency_us: float  # time inside ``estimate``, microseconds (perf_counter_ns)
    methods: dict[str, str]
    limit_price: float | None = None  # limit orders: the resting price (quote currency)
    maker_filled_usd: float = 0.0  # limit orders: expected notional filled as maker
    crossed_usd: float = 0.0  # limit orders: notional crossed as taker at the horizon
    at_expiry: AtExpiry | None = None
    latency_ms: float = 0.0
    notes: tuple[str, ...] = ()
    walk: Walk | None = field(repr=False, default=None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready flat mapping (the CLI's ``--json`` output)."""
        c = self.calibration
        return {
            "exchange": self.exchange,
            "symbol": self.symbol,
            "side": self.side.value,
            "order_type": self.order_type.value,
            "size": self.size,
            "size_unit": "usd" if self.size_unit is SizeUnit.QUOTE else "base",
            "mid": self.mid,
            "best_bid": self.best_bid,
            "best_ask": self.best_ask,
            "spread_bps": self.spread_bps,
            "avg_price": self.avg_price,
            "filled_base": self.filled_base,
            "filled_usd": self.filled_usd,
            "levels_used": self.levels_used,
            "fully_filled": self.fully_filled,
            "beyond_visible": self.beyond_visible,
            "extrapolated_base": self.extrapolated_base,
            "walk_slippage_usd": self.walk_slippage_usd,
            "walk_slippage_bps": self.walk_slippage_bps,
            "half_spread_usd": self.half_spread_usd,
            "depth_usd": self.depth_usd,
            "slippage_usd": self.slippage_usd,
            "slippage_bps": self.slippage_bps,
            "slippage_p90_usd": self.slippage_p90_usd,
            "fee_usd": self.fee_usd,
            "fee_bps": self.fee_bps,
            "impact_usd": self.impact_usd,
            "impact_bps": self.impact_bps,
            "net_cost_usd": self.net_cost_usd,
            "net_cost_bps": self.net_cost_bps,
            "maker_fraction": self.maker_fraction,
            "fee_tier": self.fee_tier,
            "maker_rate": self.maker_rate,
            "taker_rate": self.taker_rate,
            "volatility_per_sqrt_s": self.volatility_per_sqrt_s,
            "volatility_annual": self.volatility_annual,
            "volatility_source": self.volatility_source.value,
            "ac_epsilon": c.epsilon,
            "ac_eta": c.eta,
            "ac_gamma": c.gamma,
            "ac_rho": c.rho,
            "ac_rho_ls": c.rho_ls,
            "ac_d0_ls": c.d0_ls,
            "ac_refill_s": c.refill_s,
            "ac_permanent_share": c.permanent_share,
            "ac_immediate_usd": self.ac_immediate_usd,
            "latency_us": self.latency_us,
            "latency_ms": self.latency_ms,
            "limit_price": self.limit_price,
            "maker_filled_usd": self.maker_filled_usd,
            "crossed_usd": self.crossed_usd,
            "at_expiry": self.at_expiry.value if self.at_expiry else None,
            "methods": dict(self.methods),
            "notes": list(self.notes),
        }


def _bps(usd: float, notional: float) -> float:
    return usd / notional * 1e4 if notional > 0 else 0.0


def estimate(
    snapshot: BookSnapshot,
    order: Order,
    *,
    fee_tier: FeeTier,
    volatility: Volatility | None = None,
    refill_s: float = DEFAULT_REFILL_S,
    permanent_share: float = DEFAULT_PERMANENT_SHARE,
    models: Models | None = None,
) -> CostEstimate:
    """Price ``order`` against ``snapshot``; see the module docstring for what each number means.

    Raises ``OrderError`` (plain message) for an order that cannot be priced.
    """
    t0 = time.perf_counter_ns()
    models = models or Models()
    mid = snapshot.mid
    notes: list[str] = []
    methods: dict[str, str] = {}

    if order.unit is SizeUnit.BASE and order.quantity * mid > MAX_NOTIONAL_USD:
        raise OrderError(
            f"{order.quantity:g} base units is about ${order.quantity * mid:,.0f}, more than the "
            f"${MAX_NOTIONAL_USD:,.0f} this simulator prices; check the size."
        )
    if order.order_type is OrderType.LIMIT and models.maker_taker is None:
        raise OrderError(
            "Limit orders need the maker/taker model, which is not loaded; price the order as a market order."
        )
    if order.order_type is OrderType.LIMIT and order.unit is SizeUnit.BASE:
        raise OrderError("Size limit orders in USD.")

    walk = walk_book(snapshot, order.side, order.quantity, unit=order.unit)
    notional = walk.filled_quote
    if walk.beyond_visible:
        notes.append(
            f"Beyond visible depth: {walk.extrapolated_base:.6g} base units were priced by extending the book "
            "at its average depth slope (a conservative estimate)."
        )
        methods["book_walk"] = "book walk + extrapolation beyond visible depth"
    else:
        methods["book_walk"] = "book walk"

    vol = volatility if volatility is not None else default_volatility(mid=mid)
    methods["volatility"] = {
        VolSource.DATA: "realised EWMA of mid returns",
        VolSource.OVERRIDE: "user override",
        VolSource.DEFAULT: "documented default (not enough history)",
    }[vol.source]
    if vol.source is VolSource.DEFAULT:
        notes.append(vol.note)

    mi = ModelInput(snapshot=snapshot, order=order, walk=walk, volatility=vol, notional_usd=notional)
    limit = None
    if order.order_type is OrderType.LIMIT:
        limit = _limit_execution(snapshot, order, mi, models, notes, methods)
        if limit.cross is not None:
            walk = limit.cross  # the part that walks the book is the crossed rest
        notional = limit.maker_usd + limit.crossed_usd

    cal = calibrate(
        snapshot,
        order.side,
        walk.filled_base,
        sigma=mid * vol.sigma_per_sqrt_s,
        refill_s=refill_s,
        permanent_share=permanent_share,
        walk=walk,
    )
    x = walk.filled_base if (limit is None or limit.cross is not None) else 0.0
    ac_immediate = cal.immediate_cost(x)

    p90_total: float | None = None
    if limit is not None:
        total = limit.maker_cost + (limit.cross.cost if limit.cross is not None else 0.0)
        methods["slippage"] = (
            "maker part at the limit price vs mid"
            + (" + book walk of the crossed rest" if limit.cross else "")
            + ", minus permanent impact"
        )
        pred = None
    else:
        pred = models.slippage.predict(mi) if models.slippage is not None else None
    if pred is not None and math.isfinite(pred.expected_bps):
        total = pred.expected_bps * notional / 1e4
        if pred.p90_bps is not None and math.isfinite(pred.p90_bps):
            p90_total = pred.p90_bps * notional / 1e4
        methods["slippage"] = f"model: {models.slippage.name}, minus permanent impact"  # type: ignore[union-attr]
        if p90_total is not None:
            methods["slippage_p90"] = f"quantile model at {order.latency_ms:g} ms latency"
    elif pred is not None:  # a broken prediction must not reach the user: fall back, and say so
        total = walk.cost
        methods["slippage"] = "book walk (the slippage model returned no finite value), minus permanent impact"
    elif limit is None:
        total = walk.cost
        methods["slippage"] = "book walk, minus permanent impact"

    # Almgren–Chriss carves the permanent term out of the cost of walking past the touch (eta), never out
    # of the half-spread (epsilon is temporary by definition), so that part bounds it.
    impact_ac = cal.permanent_cost(x)
    walked = total if limit is None else (limit.cross.cost if limit.cross is not None else 0.0)
    beyond_touch = max(walked - (walk.half_spread_cost if x > 0 else 0.0), 0.0)
    impact = min(impact_ac, beyond_touch)
    methods["impact"] = (
        f"Almgren–Chriss permanent part 0.5·gamma·X², gamma = {permanent_share:g}/rho (refill {refill_s:g} s)"
    )
    if limit is not None and limit.cross is None:
        methods["impact"] = "none: a resting limit order does not walk the book"
    elif impact < impact_ac:
        methods["impact"] += ", capped at the cost beyond the touch"
        if beyond_touch == 0.0:
            notes.append("The order stays within the best level, so it does not move the price: no permanent impact.")
        else:
            notes.append(
                "Permanent impact capped at the cost of walking past the best level, all the price move "
                "this order causes on the visible book."
            )
    slippage = total - impact
    slippage_p90 = None if p90_total is None else p90_total - impact

    if limit is None:
        maker_fraction = 0.0
        methods["maker_fraction"] = "market order: 100% taker"
        fee = expected_fee(notional, 0.0, fee_tier.maker_rate, fee_tier.taker_rate)
        methods["fees"] = fee_method(fee_tier, 0.0)
    else:
        maker_fraction = limit.fraction
        share = limit.maker_usd / notional if notional > 0 else 1.0  # maker share of what actually fills
        fee = expected_fee(notional, share, fee_tier.maker_rate, fee_tier.taker_rate) if notional > 0 else 0.0
        methods["fees"] = fee_method(fee_tier, share)

    net = slippage + fee + impact
    if limit is None:
        filled_base, avg_price, levels, fully = walk.filled_base, walk.avg_price, walk.levels_used, walk.fully_filled
        beyond, walked_cost, half, depth = walk.beyond_visible, walk.cost, walk.half_spread_cost, walk.depth_cost
    else:
        c = limit.cross
        filled_base = limit.maker_usd / limit.price + (c.filled_base if c else 0.0)
        avg_price = notional / filled_base if filled_base > 0 else math.nan
        levels, fully = (c.levels_used if c else 0), (c is not None or limit.fraction >= 1.0)
        beyond = c.beyond_visible if c else False
        walked_cost, half, depth = (c.cost, c.half_spread_cost, c.depth_cost) if c else (0.0, 0.0, 0.0)
    latency_us = (time.perf_counter_ns() - t0) / 1e3
    return CostEstimate(
        exchange=snapshot.exchange,
        symbol=snapshot.symbol,
        side=order.side,
        order_type=order.order_type,
        size=order.quantity,
        size_unit=order.unit,
        mid=mid,
        best_bid=snapshot.best_bid,
        best_ask=snapshot.best_ask,
        spread_bps=snapshot.spread_bps,
        avg_price=avg_price,
        filled_base=filled_base,
        filled_usd=notional,
        levels_used=levels,
        fully_filled=fully,
        beyond_visible=beyond,
        extrapolated_base=walk.extrapolated_base if (limit is None or limit.cross) else 0.0,
        walk_slippage_usd=walked_cost,
        walk_slippage_bps=_bps(walked_cost, notional),
        half_spread_usd=half,
        depth_usd=depth,
        slippage_usd=slippage,
        slippage_bps=_bps(slippage, notional),
        slippage_p90_usd=slippage_p90,
        fee_usd=fee,
        fee_bps=_bps(fee, notional),
        impact_usd=impact,
        impact_bps=_bps(impact, notional),
        net_cost_usd=net,
        net_cost_bps=_bps(net, notional),
        maker_fraction=maker_fraction,
        fee_tier=fee_tier.label,
        maker_rate=fee_tier.maker_rate,
        taker_rate=fee_tier.taker_rate,
        volatility_per_sqrt_s=vol.sigma_per_sqrt_s,
        volatility_annual=vol.annual,
        volatility_source=vol.source,
        calibration=cal,
        ac_immediate_usd=ac_immediate,
        latency_us=latency_us,
        methods=methods,
        limit_price=limit.price if limit else None,
        maker_filled_usd=limit.maker_usd if limit else 0.0,
        crossed_usd=limit.crossed_usd if limit else 0.0,
        at_expiry=order.at_expiry if limit else None,
        latency_ms=order.latency_ms,
        notes=tuple(notes),
        walk=walk,
    )


@dataclass(frozen=True, slots=True)
class _Limit:
    """How a resting limit order is expected to execute within its horizon."""

    price: float  # resting price, quote currency
    fraction: float  # expected share of the order filled as maker (model)
    maker_usd: float  # notional filled as maker
    maker_cost: float  # (price - mid) x base for a buy, (mid - price) x base for a sell: negative = earned
    crossed_usd: float  # notional crossed as taker at the horizon
    cross: Walk | None  # the book walk of the crossed rest (None when cancelled or nothing left)


def _limit_execution(
    snapshot: BookSnapshot, order: Order, mi: ModelInput, models: Models, notes: list[str], methods: dict[str, str]
) -> _Limit:
    """Maker share from the model at the limit price; the rest cancelled or crossed at the horizon.

    The crossed rest is priced on the current book, the best estimate of the book at the horizon.
    """
    f = float(models.maker_taker.maker_fraction(mi))  # type: ignore[union-attr]
    if not (math.isfinite(f) and 0.0 <= f <= 1.0):
        raise OrderError(f"The maker/taker model returned {f!r}, outside [0, 1].")
    methods["maker_fraction"] = f"model: {models.maker_taker.name}"  # type: ignore[union-attr]
    off = order.offset_bps / 1e4
    buy = order.side is Side.BUY
    price = snapshot.best_bid * (1 - off) if buy else snapshot.best_ask * (1 + off)
    mid = snapshot.mid
    maker_usd = f * order.quantity
    maker_base = maker_usd / price
    maker_cost = (price - mid) * maker_base if buy else (mid - price) * maker_base
    rest = order.quantity - maker_usd
    cross = None
    if order.at_expiry is AtExpiry.CROSS and rest > order.quantity * 1e-9:
        cross = walk_book(snapshot, order.side, rest, unit=SizeUnit.QUOTE)
        notes.append(
            f"Expected {f:.0%} filled as maker at {price:,.2f}; the rest (${rest:,.2f}) is crossed as taker after "
            f"{order.horizon_s:g} s, priced on the current book."
        )
        methods["book_walk"] = "book walk of the rest crossed at the horizon"
    else:
        notes.append(
            f"Expected {f:.0%} filled as maker at {price:,.2f}; the rest (${rest:,.2f}) is cancelled after "
            f"{order.horizon_s:g} s: no cost or fee on it, and no position either."
        )
        methods["book_walk"] = "none: the unfilled rest is cancelled"
    return _Limit(
        price=price,
        fraction=f,
        maker_usd=maker_usd,
        maker_cost=maker_cost,
        crossed_usd=cross.filled_quote if cross is not None else 0.0,
        cross=cross,
    )
