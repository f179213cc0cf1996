"""How a resting limit order is expected to execute within its horizon.

The maker/taker model gives the share filled as maker at the limit price; the rest is cancelled or crossed
as taker at the horizon, priced on the current book (the best estimate of the book at the horizon).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.costs.models import MakerTakerModel, ModelInput
from core.costs.order import AtExpiry, Order, Side, SizeUnit
from core.costs.walk import Walk, walk_book
from core.errors import OrderError
from core.market.book import BookSnapshot


@dataclass(frozen=True, slots=True)
class LimitExecution:
    """How a resting limit order is expected to execute within its horizon."""

    price: float  # resting price, quote currency
    fraction: float  # expected share of the order filled as maker (model)
    maker_usd: float  # notional filled as maker
    maker_cost: float  # (price - mid) x base for a buy, (mid - price) x base for a sell: negative = earned
    crossed_usd: float  # notional crossed as taker at the horizon
    cross: Walk | None  # the book walk of the crossed rest (None when cancelled or nothing left)


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
    f = float(model.maker_fraction(mi))
    if not (math.isfinite(f) and 0.0 <= f <= 1.0):
        raise OrderError(f"The maker/taker model returned {f!r}, outside [0, 1].")
    methods["maker_fraction"] = f"model: {model.name}"
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
    return LimitExecution(
        price=price,
        fraction=f,
        maker_usd=maker_usd,
        maker_cost=maker_cost,
        crossed_usd=cross.filled_quote if cross is not None else 0.0,
        cross=cross,
    )
