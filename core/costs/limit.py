"""How a resting limit order is expected to execute within its horizon, and what resting costs.

The maker/taker model gives the share filled as maker at the limit price (size-aware: a large order fills a
smaller share); the rest is cancelled or crossed as taker at the horizon, priced on the current book. Two
expected costs come on top, both in bps of the mid at placement, estimated from the recorded tape when the
model supplies them (``LimitRiskModel``):

- adverse selection, on the notional expected to fill: a resting order fills when the market comes through
  it, so the mid moves against the filled part (its markout);
- opportunity cost, on the notional crossed at expiry: while it waited unfilled the mid moved away, and the
  rest crosses from there. A cancelled rest pays nothing (no trade), and the note says what it missed.

``core.costs.composition`` adds them to the net cost as ``adverse_selection_usd`` and ``opportunity_usd``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.costs.models import (
    FlowSourceModel,
    LimitRisk,
    LimitRiskModel,
    MakerTakerModel,
    ModelInput,
    OnlineNoteModel,
    OnlineShareModel,
    RegimeModel,
    TrainedRangeModel,
)
from core.costs.order import AtExpiry, Order, Side, SizeUnit
from core.costs.walk import Walk, walk_book
from core.errors import OrderError
from core.market.book import BookSnapshot
from core.market.instruments import offset_ticks, passive_ticks, price_tick

#: how a limit order's notes begin when the maker model says the market is outside its training conditions
REGIME_NOTE = "Maker share outside the model's training conditions"


@dataclass(frozen=True, slots=True)
class LimitExecution:
    """How a resting limit order is expected to execute within its horizon."""

    price: float  # resting price, quote currency
    fraction: float  # expected share of the order filled as maker (model)
    maker_usd: float  # notional filled as maker
    maker_cost: float  # (price - mid) x base for a buy, (mid - price) x base for a sell: negative = earned
    crossed_usd: float  # notional crossed as taker at the horizon
    cross: Walk | None  # the book walk of the crossed rest (None when cancelled or nothing left)
    adverse_selection_usd: float = 0.0  # expected markout of the filled part (positive = cost)
    opportunity_usd: float = 0.0  # expected move away before the rest crosses (0 when cancelled)
    risk: LimitRisk | None = None  # the estimates behind the two (None: the model gives none)
    model_fraction: float | None = None  # the model's own share where an online correction moved it to ``fraction``


def _ci(ci: tuple[float, float] | None) -> str:
    return f" (95% interval {ci[0]:+.2f} to {ci[1]:+.2f})" if ci else ""


def limit_risk_costs(
    risk: LimitRisk | None,
    maker_usd: float,
    crossed_usd: float,
    rest_usd: float,
    notes: list[str],
    methods: dict[str, str],
) -> tuple[float, float]:
    """(adverse selection USD, opportunity USD) of a limit order from the tape's estimates; says how in
    ``notes`` and ``methods``. Without estimates both are 0 and ``methods`` says they are not priced."""
    if risk is None:
        methods["adverse_selection"] = methods["opportunity"] = "not priced: the maker/taker model gives no estimate"
        return 0.0, 0.0
    adverse = maker_usd * risk.adverse_selection_bps / 1e4
    opportunity = crossed_usd * risk.opportunity_bps / 1e4
    methods["adverse_selection"] = f"expected markout of the filled part, {risk.source}"
    methods["opportunity"] = (
        f"expected move away before the rest crosses, {risk.source}"
        if crossed_usd > 0 or rest_usd <= 0
        else f"none charged: the cancelled rest does not trade (the move it misses is in the notes), {risk.source}"
    )
    notes.append(
        f"Adverse selection: fills come as the price moves through the order; the mid is expected to move "
        f"{risk.adverse_selection_bps:+.2f} bps against the filled part{_ci(risk.adverse_selection_ci)}: "
        f"${adverse:,.2f}."
    )
    if crossed_usd > 0:
        notes.append(
            f"Opportunity cost: while unfilled the mid is expected to move {risk.opportunity_bps:+.2f} bps away "
            f"before the rest crosses{_ci(risk.opportunity_ci)}: ${opportunity:,.2f}."
        )
    elif rest_usd > 0:
        notes.append(
            f"The cancelled rest pays nothing, but the mid is expected to have moved {risk.opportunity_bps:+.2f} bps "
            "away from it: buying it later would cost that much more."
        )
    return adverse, opportunity


def offset_refusal(offset_bps: float, max_bps: float) -> str | None:
    """Why a limit offset beyond the ones the fill model learned is refused (None within them). One text for the
    engine and the order ticket (``core.views.inputs.parse_inputs`` says it under the offset box)."""
    if offset_bps <= max_bps + 1e-9:
        return None
    return (
        f"Enter an offset of at most {max_bps:g} bps: the fill model learned fill rates up to {max_bps:g} bps behind "
        f"the best price, and this order rests {offset_bps:g} bps behind it. Further away an order rarely fills and "
        "the model has no data, so it would show a fill (and a price gain) that is not there."
    )


def horizon_note(horizon_s: float, lo_s: float, hi_s: float) -> str | None:
    """What a rest outside the horizons the fill model learned is priced as (None within them): the nearest one."""
    if lo_s <= horizon_s <= hi_s:
        return None
    longer = horizon_s > hi_s
    near = hi_s if longer else lo_s
    return (
        f"Priced as a {near:g} s rest: the fill model learned rests of {lo_s:g}-{hi_s:g} s, so the maker share and "
        f"the limit-order costs are those of a {near:g} s rest, the {'longest' if longer else 'shortest'} the fill "
        f"model learned; this order rests {horizon_s:g} s, so it would likely fill {'more' if longer else 'less'} "
        "than shown."
    )


def resting_price(snapshot: BookSnapshot, order: Order) -> tuple[float, str]:
    """The limit price on the venue's tick (as the maker model and the validator place it) and where it rests,
    in words: an order ticket shows the price the exchange would accept, not the raw offset."""
    buy = order.side is Side.BUY
    touch = snapshot.best_bid if buy else snapshot.best_ask
    tick = price_tick(snapshot.exchange, snapshot.symbol, snapshot.bid_px, snapshot.ask_px)
    ticks = passive_ticks(touch, tick, order.offset_bps, buy=buy)
    price = round(ticks * tick, max(0, -math.floor(math.log10(tick))) + 3)  # 100.1, not 100.10000000000001
    if price <= 0:
        raise OrderError(
            f"A limit offset of {order.offset_bps:g} bps puts the price at or below zero; use a smaller offset."
        )
    behind = abs(offset_ticks(touch, tick, order.offset_bps))
    touch_name = "best bid" if buy else "best ask"
    if behind == 0:
        return price, f"at the {touch_name}"
    raw = abs(price - touch) / touch * 1e4
    return (
        price,
        f"{behind:,} tick{'s' if behind != 1 else ''} of {tick:g} ({raw:.2f} bps) {'below' if buy else 'above'} the {touch_name}",
    )


def limit_execution(
    snapshot: BookSnapshot,
    order: Order,
    mi: ModelInput,
    model: MakerTakerModel,
    notes: list[str],
    methods: dict[str, str],
) -> LimitExecution:
    """Maker share from ``model`` at the limit price; the rest cancelled or crossed at the horizon.

    Appends what it assumed to ``notes`` and ``methods``.
    """
    if isinstance(model, TrainedRangeModel):
        (_, off_hi), (hor_lo, hor_hi) = model.trained_range()
        refusal = offset_refusal(order.offset_bps, off_hi)
        if refusal:
            raise OrderError(refusal)
        note = horizon_note(order.horizon_s, hor_lo, hor_hi)
        if note:
            notes.append(note)
    f_model: float | None = None
    if isinstance(model, OnlineShareModel):
        f, f_model = model.maker_fraction_parts(mi)
        f = float(f)
    else:
        f = float(model.maker_fraction(mi))
    if not (math.isfinite(f) and 0.0 <= f <= 1.0):
        raise OrderError(f"The maker/taker model returned {f!r}, outside [0, 1].")
    online = model.online_note(mi) if isinstance(model, OnlineNoteModel) else ""
    flow = model.flow_source(mi).rstrip(".") if isinstance(model, FlowSourceModel) else ""
    methods["maker_fraction"] = (
        f"model: {model.name}" + (f"; {online}" if online else "") + (f"; {flow}" if flow else "")
    )
    regime = model.regime(mi.volatility) if isinstance(model, RegimeModel) else ""
    if regime:
        notes.append(f"{REGIME_NOTE}: {regime}.")
    buy = order.side is Side.BUY
    price, where = resting_price(snapshot, order)
    mid = snapshot.mid
    maker_usd = f * order.quantity
    maker_base = maker_usd / price
    maker_cost = (price - mid) * maker_base if buy else (mid - price) * maker_base
    rest = order.quantity - maker_usd
    cross = None
    if order.at_expiry is AtExpiry.CROSS and rest > order.quantity * 1e-9:
        cross = walk_book(snapshot, order.side, rest, unit=SizeUnit.QUOTE)
        notes.append(
            f"Expected {f:.0%} filled as maker at {price:,.2f} ({where}); the rest (${rest:,.2f}) is crossed as taker after "
            f"{order.horizon_s:g} s, priced on the current book."
        )
        methods["book_walk"] = "book walk of the rest crossed at the horizon"
    else:
        notes.append(
            f"Expected {f:.0%} filled as maker at {price:,.2f} ({where}); the rest (${rest:,.2f}) is cancelled after "
            f"{order.horizon_s:g} s: no cost or fee on it, and no position either."
        )
        methods["book_walk"] = "none: the unfilled rest is cancelled"
    crossed_usd = cross.filled_quote if cross is not None else 0.0
    risk = model.limit_risk(mi) if isinstance(model, LimitRiskModel) else None
    adverse, opportunity = limit_risk_costs(risk, maker_usd, crossed_usd, rest, notes, methods)
    return LimitExecution(
        price=price,
        fraction=f,
        maker_usd=maker_usd,
        maker_cost=maker_cost,
        crossed_usd=crossed_usd,
        cross=cross,
        adverse_selection_usd=adverse,
        opportunity_usd=opportunity,
        risk=risk,
        model_fraction=f_model,
    )
