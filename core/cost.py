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

from core.book import BookSnapshot
from core.exceptions import OrderError
from core.fees import FeeTier, expected_fee, fee_method
from core.impact import DEFAULT_PERMANENT_SHARE, DEFAULT_REFILL_S, Calibration, calibrate
from core.slippage import Side, SizeUnit, Walk, walk_book
from core.volatility import Volatility, VolSource, default_volatility

#: orders above this notional (USD) are rejected as a typo rather than priced
MAX_NOTIONAL_USD = 1e9


class OrderType(str, Enum):
    MARKET = "market"
    LIMIT = "limit"

    @classmethod
    def parse(cls, value: "OrderType | str") -> "OrderType":
        if isinstance(value, OrderType):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise OrderError(f"Unknown order type {value!r}: use 'market' or 'limit'.") from None


def _size(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise OrderError(f"{what} must be a number, got {value!r}.")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise OrderError(f"{what} must be a number, got {value!r}.") from None
    if math.isnan(v):
        raise OrderError(f"{what} is not a number (NaN); enter an amount.")
    if math.isinf(v):
        raise OrderError(f"{what} is infinite; enter a finite amount.")
    return v


@dataclass(frozen=True, slots=True)
class Order:
    """What the user wants to do. Strings are accepted for the enums; every field is validated.

    ``offset_bps`` and ``horizon_s`` describe a limit order (distance behind the touch, time it rests);
    they are ignored for market orders.
    """

    side: Side
    quantity: float  # in ``unit``: USD notional or base units
    unit: SizeUnit = SizeUnit.QUOTE
    order_type: OrderType = OrderType.MARKET
    offset_bps: float = 0.0
    horizon_s: float = 60.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "side", Side.parse(self.side))
        object.__setattr__(self, "unit", SizeUnit.parse(self.unit))
        object.__setattr__(self, "order_type", OrderType.parse(self.order_type))
        what = "Order size in USD" if self.unit is SizeUnit.QUOTE else "Order size in base units"
        q = _size(self.quantity, what)
        if q == 0:
            raise OrderError(f"{what} is zero; enter an amount above zero.")
        if q < 0:
            raise OrderError(f"{what} is negative ({q:g}); use the side (buy/sell) for direction and a positive size.")
        if self.unit is SizeUnit.QUOTE and q > MAX_NOTIONAL_USD:
            raise OrderError(f"${q:,.0f} is more than the ${MAX_NOTIONAL_USD:,.0f} this simulator prices; check the size.")
        object.__setattr__(self, "quantity", q)
        if self.order_type is OrderType.LIMIT:
            off = _size(self.offset_bps, "Limit offset (bps)")
            hor = _size(self.horizon_s, "Limit horizon (seconds)")
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
    notes: tuple[str, ...]
    walk: Walk = field(repr=False)

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

    cal = calibrate(
        snapshot,
        order.side,
        walk.filled_base,
        sigma=mid * vol.sigma_per_sqrt_s,
        refill_s=refill_s,
        permanent_share=permanent_share,
        walk=walk,
    )
    x = walk.filled_base
    ac_immediate = cal.immediate_cost(x)

    mi = ModelInput(snapshot=snapshot, order=order, walk=walk, volatility=vol, notional_usd=notional)
    p90_total: float | None = None
    pred = models.slippage.predict(mi) if models.slippage is not None else None
    if pred is not None and math.isfinite(pred.expected_bps):
        total = pred.expected_bps * notional / 1e4
        if pred.p90_bps is not None and math.isfinite(pred.p90_bps):
            p90_total = pred.p90_bps * notional / 1e4
        methods["slippage"] = f"model: {models.slippage.name}, minus permanent impact"  # type: ignore[union-attr]
    elif pred is not None:  # a broken prediction must not reach the user: fall back, and say so
        total = walk.cost
        methods["slippage"] = "book walk (the slippage model returned no finite value), minus permanent impact"
    else:
        total = walk.cost
        methods["slippage"] = "book walk, minus permanent impact"
        if order.order_type is OrderType.LIMIT:
            methods["slippage"] = "book walk of the full size (upper bound for a limit order), minus permanent impact"

    # Almgren–Chriss carves the permanent term out of the cost of walking past the touch (eta), never out
    # of the half-spread (epsilon is temporary by definition), so that part bounds it.
    impact_ac = cal.permanent_cost(x)
    beyond_touch = max(total - walk.half_spread_cost, 0.0)
    impact = min(impact_ac, beyond_touch)
    methods["impact"] = (
        f"Almgren–Chriss permanent part 0.5·gamma·X², gamma = {permanent_share:g}/rho (refill {refill_s:g} s)"
    )
    if impact < impact_ac:
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

    if order.order_type is OrderType.MARKET:
        maker_fraction = 0.0
        methods["maker_fraction"] = "market order: 100% taker"
    else:
        maker_fraction = float(models.maker_taker.maker_fraction(mi))  # type: ignore[union-attr]
        if not 0.0 <= maker_fraction <= 1.0:
            raise OrderError(f"The maker/taker model returned {maker_fraction!r}, outside [0, 1].")
        methods["maker_fraction"] = f"model: {models.maker_taker.name}"  # type: ignore[union-attr]
    fee = expected_fee(notional, maker_fraction, fee_tier.maker_rate, fee_tier.taker_rate)
    methods["fees"] = fee_method(fee_tier, maker_fraction)

    net = slippage + fee + impact
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
        avg_price=walk.avg_price,
        filled_base=walk.filled_base,
        filled_usd=notional,
        levels_used=walk.levels_used,
        fully_filled=walk.fully_filled,
        beyond_visible=walk.beyond_visible,
        extrapolated_base=walk.extrapolated_base,
        walk_slippage_usd=walk.cost,
        walk_slippage_bps=_bps(walk.cost, notional),
        half_spread_usd=walk.half_spread_cost,
        depth_usd=walk.depth_cost,
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
        notes=tuple(notes),
        walk=walk,
    )
